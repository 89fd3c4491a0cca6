package netnstest

// TLSClient is a Python program for a process in a node: it sends a TLS
// ClientHello for its argument's name to the name's port 443 (resolved
// through the node's /etc/resolv.conf) and succeeds when something
// answers — the emulated public site's line; a firewall that refuses the
// name resets the connection and the program fails.
const TLSClient = `import socket, ssl, sys
host = sys.argv[1]
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=host)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
s = socket.create_connection((host, 443), timeout=5)
s.sendall(outgoing.read())
answer = s.recv(200)
if not answer:
    sys.exit(host + ": closed without an answer")
print(host + ": " + answer.decode(errors="replace").strip())
`
