"""molexp's built-in plugins: loaders, the override coercion rule, schedulers.

Each module is registered through the ``molexp`` entry-point group, exactly as a
third-party plugin would be.
"""
