/*
 * nfnl-relay: carries netfilter netlink messages between tortie (Node.js, which cannot open
 * AF_NETLINK sockets) and the kernel of the network namespace it runs in. It knows nothing of
 * nf_tables: tortie encodes every message (src/kernel/nfnl/) and parses every answer.
 *
 * Why it exists: nft 1.0.x re-reads every table, chain and set of the ruleset before each
 * transaction (docs/performance.md, "Kernel updates"); a set-element change sent as netlink
 * messages skips that.
 *
 * Protocol on stdin / stdout, little-endian u32s, one request at a time:
 *   request:  u32 count, then count × (u32 length, bytes): each is one sendto() to the kernel;
 *             then u32 terminator: the sequence number of the last message sent.
 *   reply:    u32 status (0, or the errno of a failed send/recv), u32 length, bytes: every
 *             netlink message the kernel answered with, up to and including the first one whose
 *             sequence number is the terminator.
 * The kernel handles a batch inside sendto(), so its error messages are queued before the
 * answer to the last request (tortie sends NFT_MSG_GETGEN after the batch) arrives.
 * EOF on stdin ends the process.
 */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (64u << 20)

static int read_full(void *buf, size_t n) {
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(0, p, n);
		if (r == 0) return 0;
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

static int write_full(const void *buf, size_t n) {
	const char *p = buf;
	while (n > 0) {
		ssize_t r = write(1, p, n);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int reply(uint32_t status, const void *bytes, uint32_t len) {
	uint32_t head[2] = {status, len};
	if (write_full(head, sizeof head) < 0) return -1;
	return len ? write_full(bytes, len) : 0;
}

int main(void) {
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0) {
		perror("nfnl-relay: socket");
		return 1;
	}
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
		perror("nfnl-relay: bind");
		return 1;
	}
	/* A batch is one sendto(): the send buffer must hold it (root may force the size). */
	int sndbuf = MAX_REQUEST, rcvbuf = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	/* Errors carry only the failing message's header, not its whole body. */
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);

	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char *msg = NULL;
	size_t msg_cap = 0;
	char *out = NULL;
	size_t out_cap = 0;
	char rbuf[1 << 16];

	for (;;) {
		uint32_t count;
		int r = read_full(&count, sizeof count);
		if (r == 0) return 0;
		if (r < 0) return 1;
		uint32_t status = 0;
		for (uint32_t i = 0; i < count; i++) {
			uint32_t len;
			if (read_full(&len, sizeof len) <= 0 || len > MAX_REQUEST) return 1;
			if (len > msg_cap) {
				free(msg);
				msg_cap = len;
				msg = malloc(msg_cap);
				if (!msg) return 1;
			}
			if (len && read_full(msg, len) <= 0) return 1;
			if (status) continue; /* an earlier send failed: read the rest, send nothing more */
			ssize_t s;
			do s = sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
			while (s < 0 && errno == EINTR);
			if (s < 0) status = (uint32_t)errno;
		}
		uint32_t terminator;
		if (read_full(&terminator, sizeof terminator) <= 0) return 1;
		if (status) {
			if (reply(status, NULL, 0) < 0) return 1;
			continue;
		}
		size_t out_len = 0;
		int done = 0;
		while (!done) {
			ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
			if (n < 0) {
				if (errno == EINTR) continue;
				status = (uint32_t)errno;
				break;
			}
			if (out_len + (size_t)n > out_cap) {
				out_cap = (out_len + (size_t)n) * 2;
				char *grown = realloc(out, out_cap);
				if (!grown) return 1;
				out = grown;
			}
			memcpy(out + out_len, rbuf, (size_t)n);
			out_len += (size_t)n;
			int left = (int)n;
			for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
				if (h->nlmsg_seq == terminator) done = 1;
		}
		if (reply(status, out, status ? 0 : (uint32_t)out_len) < 0) return 1;
	}
}
