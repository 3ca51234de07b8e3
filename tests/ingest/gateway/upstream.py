"""A real upstream HJ 212 platform for tests: a TCP server that records packets and answers."""

from __future__ import annotations

import socket
import threading

from ingest.gateway import protocol
from ingest.gateway.framing import Frame, Framer
from ingest.kernel import hj212


class Upstream:
    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[hj212.Packet] = []
        self.answered: list[hj212.Packet] = []  # what it sent a 9014 for
        self.answering = True  # False: records packets, answers none (a platform in trouble)
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Upstream:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        return self

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        framer = Framer()
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in framer.feed(data):
                    if isinstance(event, Frame):
                        packet = hj212.decode_packet(event.raw)
                        with self._lock:
                            self.received.append(packet)
                            answer = self.answering and protocol.wants_answer(packet)
                            if answer:
                                self.answered.append(packet)
                        if answer:
                            conn.sendall(protocol.data_answer(packet))

    def packets(self) -> list[hj212.Packet]:
        with self._lock:
            return list(self.received)

    def answered_packets(self) -> list[hj212.Packet]:
        with self._lock:
            return list(self.answered)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
