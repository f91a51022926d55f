"""Model code: pure PyTorch, no Django import.

The web app calls into this package from Celery tasks (queue ``inference``); this package never
imports the web app. The DeepENE-style model and its inference pipeline arrive with the model
issue.
"""
