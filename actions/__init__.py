"""The action server's rasa_sdk glue: custom actions and form validation over ``b12core``.

The rasa_sdk executor imports every module below this package at start-up, so no
module may do work at import time beyond defining things. Nothing outside this package
(and its tests) imports it.
"""
