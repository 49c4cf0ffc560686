"""Code that runs inside the Rasa server process: launcher, stores, fault guards.

Kept apart from ``actions/`` (which runs in the action server) so that each
process imports only what it needs.
"""
