"""The registry questions cluster mode asks beyond the pipeline's own resolution: can the image be
pulled anonymously (once per repository), and does a pull secret's credential get in
(`--verify-credentials`: a repository pull token and a manifest read, once per credential and
image)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from gate.reference import ImageRef
from gate.registry.client import ClientOptions, RegistryClient
from gate.registry.credentials import Credential
from gate.registry.protocol import ACCEPT, RegistryProblem
from gate.registry.resolve import Resolution, Resolver


class RegistryProbe:
    def __init__(self, options: ClientOptions, concurrency: int = 8) -> None:
        self.options = options
        self.concurrency = max(1, concurrency)
        self._client: RegistryClient | None = None
        self._anonymous: dict[tuple[str, str], bool | None] = {}
        self._verified: dict[tuple[ImageRef, str], Resolution] = {}
        self._lock = threading.Lock()
        self.questions = 0  # anonymous probes and credential tries asked

    @property
    def client(self) -> RegistryClient:
        """Made on the first question: most runs ask none (loading CAs costs ~0.1 s)."""
        with self._lock:
            if self._client is None:
                self._client = RegistryClient(self.options, pool_size=self.concurrency)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def anonymous_ok(self, ref: ImageRef) -> bool | None:
        """Whether the repository answers a manifest HEAD with no credentials; None: unknown.
        A 404 counts as private: the pipeline saw the image, anonymous callers do not."""
        key = (ref.domain, ref.path)
        with self._lock:
            if key in self._anonymous:
                return self._anonymous[key]
            self.questions += 1
        try:
            answer = self.client.request(
                "HEAD",
                ref.domain,
                ref.path,
                f"/v2/{ref.path}/manifests/{ref.reference}",
                None,
                accept=ACCEPT,
            )
            status = answer.status
            result = True if status == 200 else (False if status in (401, 403, 404) else None)
        except RegistryProblem as problem:
            result = False if problem.cause == "unauthorized" else None
        with self._lock:
            self._anonymous[key] = result
        return result

    def verify(self, ref: ImageRef, credential: Credential) -> Resolution:
        key = (ref, credential.source)
        with self._lock:
            if key in self._verified:
                return self._verified[key]
            self.questions += 1
        result = Resolver(self.client, lambda _: [credential], concurrency=1).resolve(ref, False)
        with self._lock:
            self._verified[key] = result
        return result

    def run(
        self,
        anonymous: Iterable[ImageRef],
        verify: Iterable[tuple[ImageRef, Credential]],
    ) -> None:
        """Ask everything up front, concurrently; later calls read the caches."""
        per_repository = {(r.domain, r.path): r for r in anonymous}
        jobs = [lambda r=r: self.anonymous_ok(r) for r in per_repository.values()]
        jobs += [lambda r=r, c=c: self.verify(r, c) for r, c in verify]
        if not jobs:
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="pullgate-probe") as pool:
            list(pool.map(lambda job: job(), jobs))
