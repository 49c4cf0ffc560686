"""The action server's code: a pure core (``actions.kb``, ``actions.labs``) and thin rasa_sdk glue.

The rasa_sdk executor imports every module below this package at start-up, so no
module may do work at import time beyond defining things.
"""
