"""ZeroMQ's wire protocol (ZMTP 3.0) and Jupyter's signed messages, spoken by hand to an untrusted kernel.

The grader does not use libzmq to read what a student's kernel sends: libzmq assembles a whole
multipart message before handing over its first frame, however large.  ``_Channel`` reads each
frame's size before its body, so what the kernel sends is bounded before it is stored;
``_Codec`` signs the grader's requests and checks every part of the kernel's messages — a
malformed one is ignored, never an exception.  ``sandbox.py`` drives both.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import select
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import List, Optional, Tuple


# One message from the kernel, all its frames together; larger ones are read and thrown away
# unstored.  The largest legitimate one is a return value: ~0.5 MB in the course's assignments
# (inputs over 256 KB travel as files, see Sandbox.spill).
MESSAGE_CAP = 8 * 1024 * 1024
MAX_FRAMES = 16  # a Jupyter message has 7 (topic, delimiter, signature, 4 JSON parts) plus buffers
READ_BATCH = 1024 * 1024  # bytes read from one connection before the messages in them are handled


class _ProtocolError(Exception):
    """The kernel's end of a connection sent bytes that are not ZeroMQ's protocol."""


class _Channel:
    """One ZeroMQ connection to the kernel (ZMTP 3.0, NULL mechanism), spoken here by hand.

    libzmq (pyzmq) caps each frame (MAXMSGSIZE) but assembles a whole multipart message, however
    many frames it has, before handing over the first: a kernel sending messages of twenty 30 MB
    frames made the grader hold gigabytes.  Here each frame's size is read before its body, so a
    message over MESSAGE_CAP or MAX_FRAMES is read and thrown away without being stored: the
    grader holds at most one message and READ_BATCH bytes per connection.
    """

    # signature (0xFF, 8 bytes of padding, 0x7F), version 3.0, mechanism NULL, as-server 0, filler
    GREETING = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
    MORE, LONG, COMMAND = 0x01, 0x02, 0x04
    CLOSED = "the kernel closed the connection"  # as it does when it exits

    def __init__(self, path: str, socket_type: str):
        self.path = path
        self.socket_type = socket_type  # what we are to the kernel: SUB (its iopub) or DEALER (its shell)
        self.sock: Optional[socket.socket] = None
        self.failure = ""  # why the connection is unusable ("" while it works)
        self.ignored = 0  # messages thrown away (over a cap, or not a Jupyter message the codec accepts)
        self.ready = False  # the kernel's READY came: the handshake is over
        self._pending: List[List[bytes]] = []  # messages that came with it
        self._buffer = bytearray()
        self._greeted = False
        self._frames: List[bytes] = []
        self._size = 0  # bytes of the current message so far
        self._dropping = False  # the current message is over a cap: its frames are read, not kept
        self._flags: Optional[int] = None  # of the frame being read (None: expecting a frame header)
        self._body = 0  # bytes of that frame still to come
        self._keep = False

    def connect(self, deadline: float) -> bool:
        """Connect and greet; False while the kernel has not created its socket yet."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return False
        except OSError as error:
            sock.close()
            raise RuntimeError(f"cannot connect to the kernel's {self.socket_type} socket {self.path}: {error}")
        sock.setblocking(False)
        self.sock = sock
        ready = b"\x05READY" + _property(b"Socket-Type", self.socket_type.encode())
        self.send(self.GREETING + _frame(ready, self.COMMAND), deadline)
        # libzmq takes no message before it has sent its own READY: it would fail the handshake
        while not self.ready and not self.failure and time.monotonic() < deadline:
            _wait([self.sock], select.POLLIN, min(0.05, max(0.0, deadline - time.monotonic())))
            self._pending += self.receive()
        if self.socket_type == "SUB":
            self.send(_frame(b"\x01"), deadline)  # subscribe to every topic (ZMTP 3.0: a message 0x01 + prefix)
        if not self.ready or self.failure:
            raise RuntimeError(f"the kernel did not accept a connection to {self.path}: {self.failure or 'timed out'}")
        return True

    def send_message(self, frames: List[bytes], deadline: float) -> bool:
        data = b"".join(_frame(f, self.MORE if i < len(frames) - 1 else 0) for i, f in enumerate(frames))
        return self.send(data, deadline)

    def send(self, data: bytes, deadline: float) -> bool:
        """Write everything by ``deadline``; False if the kernel does not read it or the connection broke."""
        view = memoryview(data)
        while view:
            if self.failure or self.sock is None:
                return False
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                _wait([self.sock], select.POLLOUT, min(remaining, 0.05))
            except OSError as error:
                self.failure = f"sending failed: {error.strerror or error}"
        return True

    def receive(self) -> List[List[bytes]]:
        """The complete messages among what has arrived (at most READ_BATCH bytes read)."""
        messages, self._pending = self._pending, []
        read = 0
        while read < READ_BATCH and not self.failure and self.sock is not None:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as error:
                self.failure = f"reading failed: {error.strerror or error}"
                break
            if not chunk:
                self.failure = self.CLOSED
                break
            read += len(chunk)
            self._buffer += chunk
            try:
                self._parse(messages)
            except _ProtocolError as error:
                self.failure = f"the kernel sent bytes that are not ZeroMQ frames ({error})"
        return messages

    def _parse(self, messages: List[List[bytes]]) -> None:
        """Append the complete messages in the buffer to ``messages`` (kept there if a later frame is bad)."""
        buffer = self._buffer
        while True:
            if not self._greeted:
                if len(buffer) < len(self.GREETING):
                    return
                if buffer[0] != 0xFF or not buffer[9] & 1 or buffer[10] < 3 or bytes(buffer[12:17]) != b"NULL\x00":
                    got = bytes(buffer[:17])
                    raise _ProtocolError(f"expected a ZMTP 3 greeting with the NULL mechanism, got {got!r}")
                del buffer[:len(self.GREETING)]
                self._greeted = True
            if self._flags is None and not self._start_frame(buffer):
                return
            if self._keep:
                if len(buffer) < self._body:
                    return
                with memoryview(buffer) as view:
                    body = bytes(view[:self._body])
                del buffer[:self._body]
                if not self._flags & self.COMMAND:
                    self._frames.append(body)
            else:  # thrown away as it arrives: never more than one read's worth held
                skipped = min(self._body, len(buffer))
                del buffer[:skipped]
                self._body -= skipped
                if self._body:
                    return
            flags, self._flags = self._flags, None
            if flags & self.COMMAND:  # between messages: READY ends the handshake; PING etc. concern nobody
                self.ready |= self._keep and body.startswith(b"\x05READY")
                continue
            if flags & self.MORE:
                continue  # more frames of this message to come
            if self._dropping:
                self.ignored += 1
            else:
                messages.append(self._frames)
            self._frames, self._size, self._dropping = [], 0, False

    def _start_frame(self, buffer: bytearray) -> bool:
        """Read a frame header and decide whether its body is kept; False until it has all arrived."""
        if len(buffer) < 2:
            return False
        flags = buffer[0]
        if flags & ~(self.MORE | self.LONG | self.COMMAND):
            raise _ProtocolError(f"frame flags {flags:#04x}")
        header = 9 if flags & self.LONG else 2
        if len(buffer) < header:
            return False
        size = int.from_bytes(buffer[1:9], "big") if flags & self.LONG else buffer[1]
        del buffer[:header]
        self._flags, self._body = flags, size
        if flags & self.COMMAND:
            self._keep = size <= 4096  # a READY is kept to be recognised; nothing else in commands matters
            return True
        if len(self._frames) >= MAX_FRAMES or self._size + size > MESSAGE_CAP:
            self._dropping = True
            self._frames = []  # what was kept of this message goes now, not when it ends
        self._keep = not self._dropping
        self._size += size
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buffer = bytearray()
        self._frames = []


def _wait(sockets: List[socket.socket], events: int, timeout: float) -> set:
    """The file descriptors among ``sockets`` that are ready (or closed, or failed) within ``timeout`` s."""
    poller = select.poll()
    for sock in sockets:
        poller.register(sock, events)
    return {fd for fd, _ in poller.poll(max(0, int(timeout * 1000)))}


def _frame(body: bytes, flags: int = 0) -> bytes:
    if len(body) > 255:
        return bytes([flags | _Channel.LONG]) + len(body).to_bytes(8, "big") + body
    return bytes([flags, len(body)]) + body


def _property(name: bytes, value: bytes) -> bytes:
    return bytes([len(name)]) + name + len(value).to_bytes(4, "big") + value


class _Codec:
    """Build and sign the grader's Jupyter messages; check and parse the kernel's.

    The student's code holds the signing key (it runs in the kernel), so a valid signature proves
    nothing about the content: every part is type-checked, and anything malformed is None.
    """

    DELIMITER = b"<IDS|MSG>"
    HEADER_CAP = 64 * 1024  # bytes of a message's header or parent header

    def __init__(self, key: bytes, scheme: str):
        algorithm = scheme.split("-", 1)[-1]
        if not key or scheme.split("-", 1)[0] != "hmac" or algorithm not in hashlib.algorithms_available:
            raise RuntimeError(f"expected an HMAC key and scheme in the connection file, got scheme {scheme!r}")
        self.key = key
        self.algorithm = algorithm
        self.session = uuid.uuid4().hex

    def sign(self, parts: List[bytes]) -> bytes:
        mac = hmac.new(self.key, digestmod=self.algorithm)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

    def request(self, msg_type: str, content: dict) -> Tuple[str, List[bytes]]:
        """(msg_id, frames) of a request from the grader."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "username": "grader", "session": self.session,
                  "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}
        parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
        return msg_id, [self.DELIMITER, self.sign(parts)] + parts

    def parse(self, frames: List[bytes]) -> Optional[dict]:
        """{"type", "parent" (the msg_id it answers), "content" (a dict)}; None if malformed."""
        try:
            start = frames.index(self.DELIMITER) + 1
        except ValueError:
            return None
        if len(frames) < start + 5:
            return None
        signature, parts = frames[start], frames[start + 1:start + 5]
        if len(parts[0]) > self.HEADER_CAP or len(parts[1]) > self.HEADER_CAP:
            return None  # a real header is a few hundred bytes: do not parse megabytes of one
        if not hmac.compare_digest(signature, self.sign(parts)):
            return None
        try:
            header, parent, content = (json.loads(parts[i]) for i in (0, 1, 3))
        except (ValueError, RecursionError, MemoryError):  # not JSON, not UTF-8, nested too deep, too big once parsed
            return None
        if not (isinstance(header, dict) and isinstance(parent, dict) and isinstance(content, dict)):
            return None
        kind, parent_id = header.get("msg_type"), parent.get("msg_id")
        if not isinstance(kind, str) or not isinstance(parent_id, (str, type(None))):
            return None
        return {"type": kind, "parent": parent_id, "content": content}
