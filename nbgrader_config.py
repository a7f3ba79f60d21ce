"""nbgrader configuration of the course (https://nbgrader.readthedocs.io).

The course directory is the repository root:
  solutions/NN_name/NN_name.ipynb   source (instructor) versions
  notebooks/NN_name/NN_name.ipynb   release (student) versions, made by generate_assignment
  submitted/, autograded/, feedback/ are nbgrader's working folders (git-ignored).
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "ebm-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Autograding runs every student's whole notebook. A cell that runs longer than this
# (an endless loop, say) is interrupted and counted as an error: it costs only its own
# points, and the rest of the notebook is still graded.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
