"""What /api/ reports: whether the database answers a query, and whether
Redis answers a PING."""

import functools
import logging

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry
from django.db import connection

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"


def database_status():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # whatever the cause, the backend cannot serve
        logger.warning("health: the database is unavailable: %s: %s", type(error).__name__, error)
        return UNAVAILABLE
    return OK


@functools.lru_cache(maxsize=1)
def _redis():
    # A client of its own, with 2-second timeouts (the cache's are 5) and no
    # retries (redis-py's default is 3, with backoff): the probe must answer
    # within its 10 seconds even when Redis hangs. It pings the URL the cache
    # and the channel layer use, so it sees the same host, database and
    # password.
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )


def redis_status():
    try:
        _redis().ping()
    except redis.RedisError as error:
        logger.warning("health: Redis is unavailable: %s: %s", type(error).__name__, error)
        return UNAVAILABLE
    return OK
