"""Exercise checks, one module per topic; the module name is the question-id prefix (``cnn.q1``)."""
