"""Command-line tools of the course: regenerate student notebooks, grade submissions."""
