"""System-wide nbgrader settings for a JupyterHub: copy to /etc/jupyter/nbgrader_config.py.

Students and the instructor then share one course id and one exchange folder
(see docs/deployment.md).
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config)
c.CourseDirectory.course_id = "ebm-course"
c.Exchange.root = "/srv/nbgrader/exchange"
