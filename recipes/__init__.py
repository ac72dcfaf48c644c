"""Training recipes: one folder per model (train.py + <variant>.yaml); _common holds the engine.

The toolkit never imports this package statically: ``toolkit.training.run_recipe`` loads the
``train.py`` beside a YAML by file path, with the folder that holds ``recipes/`` on sys.path.
"""
