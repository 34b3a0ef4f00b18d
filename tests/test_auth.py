import threading
import time

from gate.registry.auth import Challenge, Token, TokenCache, parse_challenge


def test_bearer_challenge_with_multi_action_scope():
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull,push"'
    )
    assert parse_challenge(header) == Challenge(
        "bearer",
        "https://auth.docker.io/token",
        "registry.docker.io",
        "repository:library/nginx:pull,push",
    )


def test_basic_challenge():
    assert parse_challenge('Basic realm="Registry Realm"').scheme == "basic"


def test_garbage_challenge_is_none():
    assert parse_challenge("Negotiate abc") is None
    assert parse_challenge("") is None


def test_token_cache_fetches_once_for_concurrent_callers():
    cache = TokenCache()
    calls = []

    def fetch():
        calls.append(1)
        time.sleep(0.05)
        return Token("t", time.monotonic() + 300)

    threads = [threading.Thread(target=cache.get, args=(("h", "s", ""), fetch)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(calls) == 1


def test_tokens_are_kept_per_scope():
    cache = TokenCache()
    cache.get(("h", "repository:a:pull", ""), lambda: Token("a", time.monotonic() + 300))
    token = cache.get(("h", "repository:b:pull", ""), lambda: Token("b", time.monotonic() + 300))
    assert token.value == "b"


def test_expired_token_is_fetched_again():
    cache = TokenCache()
    cache.get(("h", "s", ""), lambda: Token("old", time.monotonic() + 1))
    assert cache.get(("h", "s", ""), lambda: Token("new", time.monotonic() + 300)).value == "new"
