"""Custom Rasa NLU components (run inside the Rasa server, not the action server)."""
