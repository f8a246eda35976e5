"""WSGI entry point: ``gunicorn -k gevent -w 1 phonebank.wsgi:app``.

gunicorn's gevent worker monkey-patches the standard library before it imports this module; a
process so patched is a serving one, and starts its background work (``phonebank.background``)
with the app. ``flask --app phonebank.wsgi`` commands are not patched and start none.
"""

from gevent import monkey

from phonebank import create_app

app = create_app({"BACKGROUND_WORK": monkey.is_module_patched("socket")})
