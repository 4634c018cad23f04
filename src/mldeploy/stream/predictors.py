"""Where a streaming scorer's model predicts: on a thread beside the Kafka loop, or in a process of its own.

The scorer hands a predictor each micro-batch's event values and later asks for the
outcome, so the next batch is read and the previous one written while this one is
predicted. Both predictors answer alike (a :class:`~mldeploy.stream.scoring.Scored`, or
NotReadyError while no version serves).

- :class:`ThreadPredictor` predicts with a live model the caller holds: the caller's
  thread decodes and validates, a worker thread runs the numeric kernel (which
  releases the GIL). Decoding, validation and the Kafka client's Python work all
  share the one GIL, so they take turns.
- :class:`ProcessPredictor` subscribes to the model in a process of its own (a
  :class:`ModelSpec` says where), which decodes and validates one batch while its
  worker thread computes the one before, beside the scorer's Kafka work: three
  stages on their own threads and two GILs. Batches and outcomes cross as
  length-prefixed bytes (:mod:`mldeploy.stream._frames`), never pickles. The process
  exits when the scorer closes it or when the scorer dies (its pipe ends), so a
  killed scorer takes its predictor with it.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from queue import Empty, SimpleQueue

from mldeploy import errors
from mldeploy._stack_dumps import print_stacks_on_sigusr1
from mldeploy.bundle.options import Extra
from mldeploy.errors import NotReadyError
from mldeploy.stream import _frames
from mldeploy.serving.result import Accepted
from mldeploy.stream.scoring import (Decoded, Scored, accepted_dead, compute_batch, decode_batch, encoded, outcome,
                                     prepare_batch)

__all__ = ["ModelSpec", "Outcome", "ProcessPredictor", "ThreadPredictor"]

Outcome = Callable[[], Scored]
"""Returns a submitted batch's Scored (blocking until it is ready); raises NotReadyError when no version served."""

_STARTUP_TIMEOUT_S = 300.0
_POSIX_PIPES = os.name != "nt"  # non-blocking pipes and select() on them: POSIX only
_LENGTH = struct.Struct("!i")
_MAX_FRAME = 0x7FFFFFFF  # multiprocessing frames longer ones otherwise; no batch comes near it
_ANSWER_LIMIT_S = 120.0
"""The longest the prediction process may leave a batch unanswered. It answers a batch in milliseconds, so one
silent this long is stuck: the scorer stops with an error rather than wait for good (and commits nothing unwritten)."""
_SECONDS = struct.Struct("<d")
_PIPE_BYTES = 4 << 20
_SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class ModelSpec:
    """A model topic to subscribe to, as :func:`mldeploy.stream.subscribe` takes it: plain values a new process can open."""

    url: str
    name: str
    pin: int | None = None
    public_key: bytes | None = None
    require_signed: bool = False
    cache_dir: str | None = None
    trusted: tuple[str, ...] = ()
    print_swaps: bool = False
    """Print each swap or refusal as a ``model: ...`` line (the CLI's output)."""

    def open(self):
        """Subscribe: return the LiveModel."""
        from mldeploy.stream.subscriber import subscribe

        model = subscribe(self.url, self.name, pin=self.pin, public_key=self.public_key,
                          require_signed=self.require_signed, cache_dir=self.cache_dir, trusted=self.trusted,
                          wait_s=0)  # the scorer waits for a version itself, and says so
        if self.print_swaps:
            model.on_swap(lambda event: print(f"model: {event.describe()}", flush=True))
        return model


class ThreadPredictor:
    """Predict with ``model`` (a LiveModel the caller holds and closes), its numeric step on a worker thread.

    The caller's thread decodes and validates a batch (Python, holding the GIL) while the
    worker computes the one before (the compiled kernel, which releases it).
    """

    depth = 1
    """Batches in flight while the loop writes: one, which the worker computes while the loop works."""

    def __init__(self, model, extra: Extra = "reject", drop: str | None = None) -> None:
        self.model = model
        self.extra = extra
        """How events' fields that the schema does not know are treated: "reject" (a dead letter) or "ignore"."""
        self.drop = drop
        """A field taken out of every event before validation (``--log-key``), or None."""
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="mldeploy-scorer")

    def submit(self, values: list[bytes]) -> Outcome:
        """Decode and validate ``values`` here, compute them on the worker; return how to get the outcome."""
        decoded, computed = self.start(values)
        return lambda: outcome(self.model, decoded, computed.result(), self.extra)

    def start(self, values: list[bytes]) -> tuple[Decoded, Future]:
        """Decode and prepare ``values``; return them and the future of their computed result (``compute_batch``)."""
        decoded = decode_batch(values, self.drop)
        try:
            prepared = prepare_batch(self.model, decoded, self.extra)
        except NotReadyError as error:
            failed: Future = Future()
            failed.set_exception(error)
            return decoded, failed
        return decoded, self._worker.submit(compute_batch, prepared)

    def wait_ready(self, timeout_s: float) -> bool:
        return self.model.wait_ready(timeout_s)

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)


class ProcessPredictor:
    """Subscribe to ``spec`` in a new process and predict every batch there.

    Raises the error the process met while subscribing (a bad URL, say) from the constructor.
    """

    depth = 8
    """Batches in flight while the loop writes: enough queued (tens of ms of work) that the loop's waits,
    such as a commit's round trips, don't leave the process idle."""

    def __init__(self, spec: ModelSpec, extra: Extra = "reject", drop: str | None = None) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # forking a process with librdkafka's threads is unsafe
        requests, self._requests = context.Pipe(duplex=False)
        self._answers, answers = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(spec, extra, requests, answers, drop), daemon=True,
                                        name=f"mldeploy-predictor-{spec.name}")
        self._process.start()
        requests.close()  # only the child holds these ends now: its reads end when this process does
        answers.close()
        for connection in (self._requests, self._answers):
            _widen_pipe(connection.fileno())
        if _POSIX_PIPES:
            os.set_blocking(self._requests.fileno(), False)  # writes wait in select(), within a bound (see _send)
        self._stuck = False
        self._number = 0
        self._await(0, lambda kind, body: None, _STARTUP_TIMEOUT_S)

    def submit(self, values: list[bytes]) -> Outcome:
        """Send ``values`` to the process; return how to get the outcome (answers come in order)."""
        self._number += 1
        number, count = self._number, len(values)
        self._send(_frames.pack_batch(number, values))
        return lambda: self._await(number, lambda kind, body: _scored(kind, body, count))

    def wait_ready(self, timeout_s: float) -> bool:
        self._number += 1
        self._send(_frames.pack(b"R", self._number, _SECONDS.pack(timeout_s)))
        return self._await(self._number, lambda kind, body: kind == b"Y", timeout_s + _ANSWER_LIMIT_S)

    def close(self, timeout_s: float = 10.0) -> None:
        """Ask the process to exit (it closes its model), then make sure it has."""
        try:
            self._send(_frames.pack(b"Q", 0), wait_s=1.0)  # a stuck process that reads nothing is stopped below
        except errors.MldeployError:
            pass  # it has exited already, or takes no more requests
        if self._stuck:
            timeout_s = 1.0  # it will not read the request to exit: stop it
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout_s)
        if self._process.is_alive():  # stopped or stuck past SIGTERM
            self._process.kill()
            self._process.join(timeout_s)
        self._requests.close()
        self._answers.close()

    def _send(self, frame: bytes, wait_s: float | None = None) -> None:
        """Write ``frame`` as the process's ``recv_bytes`` reads it; PredictionError when the pipe stays full for
        ``wait_s`` (default ``_ANSWER_LIMIT_S``): a stuck process would otherwise keep this one waiting for good."""
        if self._stuck:
            raise errors.PredictionError("the prediction process stopped taking requests; start the scorer again")
        try:
            if _POSIX_PIPES:
                self._write_within(frame, _ANSWER_LIMIT_S if wait_s is None else wait_s)
            else:
                self._requests.send_bytes(frame)
        except OSError as exc:
            raise self._exited() from exc

    def _write_within(self, frame: bytes, wait_s: float) -> None:
        """multiprocessing's framing (a 4-byte big-endian length, then the bytes) on the non-blocking pipe."""
        if len(frame) > _MAX_FRAME:
            raise errors.PredictionError(f"a batch of {len(frame):,} bytes is too large for the prediction process")
        data = memoryview(_LENGTH.pack(len(frame)) + frame)
        deadline = time.monotonic() + wait_s
        fd = self._requests.fileno()
        while data:
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [fd], [], left)[1]:
                    raise self._silent(wait_s, "taken no request") from None  # part of a frame may be in the pipe

    def _await(self, number: int, read: Callable, timeout_s: float | None = None):
        """Read answers until the one to request ``number`` (earlier ones answer batches dropped by a rewind).

        PredictionError when no answer comes for ``timeout_s`` (default ``_ANSWER_LIMIT_S``).
        """
        limit_s = _ANSWER_LIMIT_S if timeout_s is None else timeout_s
        while True:
            if not self._answers.poll(limit_s):
                if number == 0:
                    raise errors.PredictionError(f"the prediction process did not start in {limit_s:.0f} s")
                raise self._silent(limit_s, "not answered")
            try:
                kind, answered, body = _frames.unpack(self._answers.recv_bytes())
            except (EOFError, OSError) as exc:
                raise self._exited() from exc
            if answered < number:
                continue
            if kind == b"E":
                raise _rebuilt_error(body)
            if kind == b"N":
                raise NotReadyError("no version of the model serves yet")
            return read(kind, body)

    def _silent(self, waited_s: float, what: str) -> errors.PredictionError:
        self._stuck = True  # nothing more is sent; close() stops it without asking
        pid = self._process.pid
        return errors.PredictionError(
            f"the prediction process (pid {pid}) has {what} in {waited_s:.0f} s; `kill -USR1 {pid}` prints where it "
            "waits; start the scorer again (it reads every event it did not commit again)")

    def _exited(self) -> errors.PredictionError:
        self._process.join(5)
        return errors.PredictionError(f"the scorer's prediction process exited (code {self._process.exitcode}); "
                                      "its error is printed above")


def _widen_pipe(fd: int) -> None:
    """Give a pipe room for a few batches: a write to a full pipe waits for the reader's thread to get the GIL."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as limit:
            size = min(int(limit.read()), _PIPE_BYTES)
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError, ValueError):
        pass  # not Linux: the default pipe, which is only slower


# ---------------------------------------------------------------- the prediction process
def _serve(spec: ModelSpec, extra: Extra, requests, answers, drop: str | None = None) -> None:
    """The prediction process: subscribe, then answer requests in order until told to exit or the scorer is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the scorer decides when to stop
    print_stacks_on_sigusr1()  # like the scorer: `kill -USR1` prints where it waits
    try:
        model = spec.open()
    except Exception as exc:  # the scorer raises it: a bad URL, a missing extra
        answers.send_bytes(_frames.pack(b"E", 0, _error_body(exc)))
        return
    answers.send_bytes(_frames.pack(b"Y", 0))
    queue: SimpleQueue = SimpleQueue()
    # Reading on a thread of its own keeps the scorer's writes from blocking while this process writes an answer
    threading.Thread(target=_read_requests, args=(requests, queue), daemon=True).start()
    # The worker needs the GIL for a moment after each batch's kernel; waiting for the main thread to give it up
    # takes up to the switch interval, 5 ms by default: longer than the kernel takes for a batch of 500
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    with model:
        server = _Server(model, answers, extra, drop)
        try:
            server.run(queue)
        except OSError:
            pass  # the scorer is gone: nobody reads the answers
        finally:
            server.predictor.close()


class _Server:
    """Answer requests in order, computing batches on a worker thread while preparing the next.

    A batch predicted in one call (its invalid events set aside by the serving core) goes
    back as the prediction's arrays and the scorer encodes the messages: this process, the
    scorer's slowest stage, does no per-event work but decoding and validating. Errors are
    sorted out here, where the model is.
    """

    ahead = 2
    """Batches prepared and not yet answered, at most: the worker always has the next one to compute."""

    def __init__(self, model, answers, extra: Extra = "reject", drop: str | None = None) -> None:
        self.predictor = ThreadPredictor(model, extra, drop)
        self.model = model
        self._answers = answers
        self._scoring: deque[tuple[int, int, Decoded, Future]] = deque()
        """Batches handed to the worker, oldest first: request number, event count, decoded events, result."""

    def run(self, queue: SimpleQueue) -> None:
        while (frame := self._next(queue)) is not None:
            if frame is _IDLE:
                self._answer_oldest()  # nothing to prepare meanwhile: wait for the worker
                continue
            kind, number, body = _frames.unpack(frame)
            if kind == b"Q":
                return
            if kind == b"S":
                values = _frames.batch_values(body)
                self._scoring.append((number, len(values), *self.predictor.start(values)))
                while self._scoring and (self._scoring[0][3].done() or len(self._scoring) > self.ahead):
                    self._answer_oldest()
            else:  # answers keep the requests' order
                while self._scoring:
                    self._answer_oldest()
                ready = self.model.wait_ready(_SECONDS.unpack(body)[0])
                self._answers.send_bytes(_frames.pack(b"Y" if ready else b"W", number))

    def _next(self, queue: SimpleQueue):
        if not self._scoring:
            return queue.get()
        try:
            return queue.get(block=False)
        except Empty:
            return _IDLE

    def _answer_oldest(self) -> None:
        number, count, decoded, computed = self._scoring.popleft()
        try:
            result = computed.result()
            if isinstance(result, Accepted):  # refused events travel as dead letters beside the arrays
                answer = _frames.pack_prediction(number, result.prediction, accepted_dead(decoded, result))
            else:
                answer = _frames.pack_scored(outcome(self.model, decoded, result, self.predictor.extra), count, number)
        except NotReadyError:
            answer = _frames.pack(b"N", number)
        except Exception as exc:  # a bug, not a bad event: the scorer stops with it
            answer = _frames.pack(b"E", number, _error_body(exc))
        self._answers.send_bytes(answer)


_IDLE = object()


def _read_requests(requests, queue: SimpleQueue) -> None:
    while True:
        try:
            queue.put(requests.recv_bytes())
        except (EOFError, OSError):
            queue.put(None)
            return


def _scored(kind: bytes, body: memoryview, count: int) -> Scored:
    if kind == b"P":
        return _frames.unpack_scored(body, count)
    prediction, dead = _frames.unpack_prediction(body)
    positions = [p for p in range(count) if p not in dead] if dead else list(range(count))
    if len(positions) != len(prediction.values):
        raise ValueError(f"an answer of {len(prediction.values)} predictions for {len(positions)} events")
    return encoded(prediction, positions, dead)


def _error_body(exc: BaseException) -> bytes:
    import orjson

    return orjson.dumps({"type": type(exc).__name__, "message": str(exc)})


def _rebuilt_error(body: memoryview) -> Exception:
    """The prediction process's error as the same mldeploy class, or a PredictionError naming it."""
    import orjson

    error = orjson.loads(body)
    cls = getattr(errors, error["type"], None)
    if isinstance(cls, type) and issubclass(cls, errors.MldeployError) and cls is not errors.SchemaError:
        return cls(error["message"])
    return errors.PredictionError(f"the scorer's prediction process failed: {error['type']}: {error['message']}")
