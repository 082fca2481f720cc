"""The delivery HTTP/1.1 client against real sockets: keep-alive, framing,
decompression and caps, broken servers, cancellation and TLS."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tidings.delivery.guard import AddressPolicy, GuardedResolver
from tidings.delivery.http1 import Http1Client, ProtocolError, target_of

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LOOPBACK = AddressPolicy(allow_loopback=True)


class Server:
    """A raw TCP server that answers each request as the test scripts it."""

    def __init__(self, answer: Callable[[int, bytes], bytes | None]) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(len(self.requests), request)
                if reply is None:  # hang up without answering
                    break
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serve(server: Server, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    return listening, listening.sockets[0].getsockname()[1]


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def client(tls: ssl.SSLContext | None = None) -> Http1Client:
    return Http1Client(GuardedResolver(LOOPBACK), tls)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_requests_are_framed_exactly_and_connections_kept_alive() -> None:
    async def test() -> None:
        server = Server(lambda n, _: ok(b"answer %d" % n))
        listening, port = await serve(server)
        http = client()
        target = target_of(f"http://127.0.0.1:{port}/hook/7?x=1")
        for number in (1, 2, 3):
            response = await http.post(target, [("x-a", "b")], b'{"n": %d}' % number, 1024)
            assert (response.status, response.body) == (200, b"answer %d" % number)
        assert server.connections == 1
        assert server.requests[0] == (
            b"POST /hook/7?x=1 HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-length: 8\r\n"
            b'accept-encoding: gzip, deflate\r\nx-a: b\r\n\r\n{"n": 1}' % port
        )
        http.close()
        listening.close()

    run(test)


def test_a_connection_the_server_closed_while_idle_is_replaced_once() -> None:
    async def test() -> None:
        # The server answers, then hangs up on the next request without a word,
        # as one whose keep-alive timeout passed does.
        server = Server(lambda n, _: ok(b"fresh") if n != 2 else None)
        listening, port = await serve(server)
        http = client()
        target = target_of(f"http://127.0.0.1:{port}/")
        assert (await http.post(target, [], b"1", 64)).status == 200
        assert (await http.post(target, [], b"2", 64)).body == b"fresh"
        assert server.connections == 2
        http.close()
        listening.close()

    run(test)


def test_chunked_close_delimited_and_connection_close_responses() -> None:
    replies = {
        1: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        2: b"HTTP/1.1 202 Accepted\r\nconnection: close\r\n\r\nuntil the end",
        3: ok(b"third"),
    }

    async def test() -> None:
        server = Server(lambda n, _: replies[n])
        listening, port = await serve(server)
        http = client()
        target = target_of(f"http://127.0.0.1:{port}/")
        assert (await http.post(target, [], b"", 64)).body == b"abcde"
        second = await http.post(target, [], b"", 64)
        assert (second.status, second.body) == (202, b"until the end")
        assert (await http.post(target, [], b"", 64)).body == b"third"
        assert server.connections == 2  # the close was honoured
        http.close()
        listening.close()

    run(test)


def test_bodies_are_capped_after_decompression_and_the_connection_dropped() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)

    async def test() -> None:
        replies = {1: ok(bomb, b"content-encoding: gzip\r\n"), 2: ok(b"x" * 5000), 3: ok()}
        server = Server(lambda n, _: replies[n])
        listening, port = await serve(server)
        http = client()
        target = target_of(f"http://127.0.0.1:{port}/")
        first = await http.post(target, [], b"", 1000)
        assert (first.body, first.truncated) == (b"\0" * 1000, True)
        second = await http.post(target, [], b"", 1000)
        assert (second.body, second.truncated) == (b"x" * 1000, True)
        assert (await http.post(target, [], b"", 1000)).body == b"ok"
        assert server.connections == 3  # a cut-off body is never reused
        http.close()
        listening.close()

    run(test)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"HTTP/1.1 200 OK\r\n" + b"x-big: " + b"a" * 70000 + b"\r\n\r\n", "headers over"),
        (b"NOT HTTP AT ALL\r\n\r\n", "not valid HTTP/1.1"),
    ],
)
def test_unusable_answers_are_protocol_errors(reply: bytes, problem: str) -> None:
    async def test() -> None:
        listening, port = await serve(Server(lambda n, _: reply))
        http = client()
        with pytest.raises(ProtocolError, match=problem):
            await http.post(target_of(f"http://127.0.0.1:{port}/"), [], b"", 64)
        http.close()
        listening.close()

    run(test)


def test_a_cancelled_exchange_never_leaves_its_connection_for_reuse() -> None:
    async def test() -> None:
        answered = asyncio.Event()

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server.connections += 1
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(head.split(b"content-length: ")[1].split(b"\r")[0]))
            if server.connections == 1:
                await asyncio.sleep(0.5)  # past the client's deadline
                answered.set()
            try:
                writer.write(ok(b"late" if server.connections == 1 else b"second"))
                await writer.drain()
            except ConnectionError:
                pass  # the client gave up on the first one
            finally:
                writer.close()

        server = Server(lambda n, _: ok())
        listening = await asyncio.start_server(slow, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        http = client()
        target = target_of(f"http://127.0.0.1:{port}/")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await http.post(target, [], b"1", 64)
        await answered.wait()
        assert (await http.post(target, [], b"2", 64)).body == b"second"
        assert server.connections == 2
        http.close()
        listening.close()

    run(test)


def test_header_injection_is_refused_before_anything_is_sent() -> None:
    async def test() -> None:
        server = Server(lambda n, _: ok())
        listening, port = await serve(server)
        http = client()
        with pytest.raises(ValueError, match="line break"):
            await http.post(target_of(f"http://127.0.0.1:{port}/"), [("x", "a\r\nb: c")], b"", 64)
        assert server.connections == 0
        http.close()
        listening.close()

    run(test)


def certificate(tmp_path: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `hostname`: (server context, trusting client context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    return server, trusting


def test_tls_is_verified_against_the_url_hostname(tmp_path: Path) -> None:
    async def test() -> None:
        good_server, trusting = certificate(tmp_path, "localhost")
        listening, port = await serve(Server(lambda n, _: ok(b"secure")), good_server)
        http = client(trusting)
        response = await http.post(target_of(f"https://localhost:{port}/"), [], b"", 64)
        assert response.body == b"secure"
        # The same server reached by a name its certificate does not carry.
        with pytest.raises(ssl.SSLCertVerificationError):
            await http.post(target_of(f"https://127.0.0.1:{port}/"), [], b"", 64)
        # And a client that does not trust the certificate at all.
        untrusting = client()
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post(target_of(f"https://localhost:{port}/"), [], b"", 64)
        untrusting.close()
        http.close()
        listening.close()

    run(test)
