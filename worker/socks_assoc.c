/*
 * The socket-free part of a SOCKS 5 UDP association; socks_assoc.h has
 * what each piece decides.
 */
#include <arpa/inet.h>
#include <string.h>

#include "lib/ct.h"
#include "worker/socks_assoc.h"

/* A waiting datagram's header in the buffer: length, port, name, as bytes. */
#define SOCKS_ASSOC_WAIT_HDR  5

/* ------------------------------------------------------------ the client */

int
socks_assoc_client_init(struct socks_assoc_client *cl, const struct sockaddr *peer,
    uint16_t port)
{
	if (udp_key_set(&cl->key, 0, peer) != CT_OK)
		return CT_ERROR;
	cl->key.port = htons(port);
	cl->learn = port == 0;
	return CT_OK;
}

int
socks_assoc_client_accept(struct socks_assoc_client *cl, const struct sockaddr *src)
{
	struct udp_key k;

	if (udp_key_set(&k, 0, src) != CT_OK)
		return 0;
	if (cl->learn) {
		uint16_t port = k.port;

		k.port = 0;
		if (memcmp(&k, &cl->key, sizeof(k)) != 0)
			return 0;
		cl->key.port = port;
		cl->learn = 0;
		return 1;
	}
	return memcmp(&k, &cl->key, sizeof(k)) == 0;
}

/* ------------------------------------------------------------ peers */

/* The slot of k, or -1. */
static int
socks_assoc_peer_find(const struct socks_assoc_peers *p, const struct udp_key *k)
{
	int i;

	for (i = 0; i < SOCKS_ASSOC_PEERS; i++)
		if (p->used[i] != 0 && memcmp(&p->key[i], k, sizeof(*k)) == 0)
			return i;
	return -1;
}

void
socks_assoc_peer_note(struct socks_assoc_peers *p, const struct sockaddr *sa)
{
	struct udp_key k;
	int i, old = 0;

	if (udp_key_set(&k, 0, sa) != CT_OK)
		return;
	if ((i = socks_assoc_peer_find(p, &k)) == -1) {
		/* A free slot has used 0, so it is the oldest of all. */
		for (i = 1; i < SOCKS_ASSOC_PEERS; i++)
			if (p->used[i] < p->used[old])
				old = i;
		i = old;
		p->key[i] = k;
	}
	p->used[i] = ++p->seq;
}

int
socks_assoc_peer_known(const struct socks_assoc_peers *p, const struct sockaddr *sa)
{
	struct udp_key k;

	return udp_key_set(&k, 0, sa) == CT_OK && socks_assoc_peer_find(p, &k) != -1;
}

/* ------------------------------------------------------------ waiting datagrams */

static size_t
socks_assoc_wait_count(const struct buf *b)
{
	size_t off = b->start, n = 0;
	uint16_t len;

	while (off < b->end) {
		memcpy(&len, b->data + off, sizeof(len));
		off += SOCKS_ASSOC_WAIT_HDR + len;
		n++;
	}
	return n;
}

int
socks_assoc_wait_push(struct buf *b, unsigned name, uint16_t port, const void *data,
    size_t len)
{
	uint16_t l = (uint16_t)len;
	char *p;

	if (len > buf_room(b) || buf_room(b) - len < SOCKS_ASSOC_WAIT_HDR ||
	    socks_assoc_wait_count(b) >= SOCKS_ASSOC_WAITING)
		return CT_DECLINED;
	p = b->data + b->end;
	memcpy(p, &l, sizeof(l));
	memcpy(p + 2, &port, sizeof(port));
	p[4] = (char)name;
	memcpy(p + SOCKS_ASSOC_WAIT_HDR, data, len);
	b->end += (uint32_t)(SOCKS_ASSOC_WAIT_HDR + len);
	return CT_OK;
}

size_t
socks_assoc_wait_flush(struct buf *b, unsigned name, socks_assoc_wait_cb cb, void *arg)
{
	size_t rd = b->start, wr = b->start, left = 0, rec;
	uint16_t len, port;

	while (rd < b->end) {
		memcpy(&len, b->data + rd, sizeof(len));
		memcpy(&port, b->data + rd + 2, sizeof(port));
		rec = SOCKS_ASSOC_WAIT_HDR + len;
		if ((unsigned char)b->data[rd + 4] == name) {
			cb(arg, port, (const uint8_t *)b->data + rd + SOCKS_ASSOC_WAIT_HDR, len);
		} else {
			/* Those of other names close up, in their order. */
			memmove(b->data + wr, b->data + rd, rec);
			wr += rec;
			left++;
		}
		rd += rec;
	}
	b->end = (uint32_t)wr;
	return left;
}
