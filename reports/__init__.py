"""Tables (and, later, figures and HTML) built from a results store alone."""
