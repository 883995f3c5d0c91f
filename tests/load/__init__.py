"""Load benchmark (make load): concurrent chat visitors and staff searches with locust, run in process.

locust's simulated users are gevent greenlets, so the standard library (sockets, ssl, threads, time) is
patched for gevent here, before the runner or the locustfile imports anything that opens a socket.
Nothing else imports this package: the suite's short run (tests/e2e/test_load.py) starts the runner as
its own process.
"""

from gevent import monkey

monkey.patch_all()
