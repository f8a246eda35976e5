"""WSGI entry point: ``gunicorn -k gevent -w 1 phonebank.wsgi:app``.

gunicorn's gevent worker monkey-patches the standard library before it imports this module.
"""

from phonebank import create_app

app = create_app()
