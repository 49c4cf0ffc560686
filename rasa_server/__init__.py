"""Everything that runs inside the Rasa server process, over the pure ``b12core``.

``__main__`` (the launcher), ``channels`` (input channels and their guards), ``nlu``
(custom NLU components named in config.yml), stores, fault guards and the speed-ups.
Never imports ``actions`` (the action server's package).
"""
