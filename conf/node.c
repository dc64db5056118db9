/*
 * YAML text to a node tree, with libyaml's event API.  Events arrive
 * in document order, so the tree is built with an explicit stack of
 * open collections: a new node is attached to the collection on top
 * (as the next item, the next key, or the value of the last key) and a
 * collection is pushed until its end event.  Every node is attached as
 * soon as it exists, so freeing the root on an error frees everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "conf/node.h"
#include "lib/ct.h"

struct node_builder {
	const char *file;
	struct node *root;
	struct node *stack[NODE_DEPTH_MAX];  /* open collections */
	size_t depth;
	unsigned documents;
	struct node_error *err;
};

static void node_error_set(struct node_error *err, unsigned line,
    unsigned col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
node_error_set(struct node_error *err, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Sets b's error at mark m (0-based in libyaml); returns CT_ERROR. */
static int
node_error_at(struct node_builder *b, const yaml_mark_t *m, const char *msg)
{
	node_error_set(b->err, (unsigned)m->line + 1, (unsigned)m->column + 1,
	    "%s", msg);
	return CT_ERROR;
}

/*
 * Reads until EOF into a buffer that grows up to NODE_INPUT_MAX plus
 * one byte, the extra byte being how an oversized file is noticed
 * without trusting st_size (which a pipe or /proc file does not have).
 */
static int
node_fd_read(int fd, char **text, size_t *len, struct node_error *err)
{
	size_t cap = 0, n = 0;
	char *buf = NULL, *p;
	ssize_t r;

	for (;;) {
		if (n == cap) {
			cap = cap == 0 ? 16384 :
			    CT_MIN(cap * 2, (size_t)NODE_INPUT_MAX + 1);
			if ((p = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				node_error_set(err, 0, 0, "out of memory");
				return CT_ERROR;
			}
			buf = p;
		}
		r = read(fd, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > NODE_INPUT_MAX) {
			free(buf);
			node_error_set(err, 0, 0, "larger than %u MiB",
			    NODE_INPUT_MAX >> 20);
			return CT_ERROR;
		}
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return CT_OK;
fail:
	node_error_set(err, 0, 0, "%s", strerror(errno));
	free(buf);
	return CT_ERROR;
}

int
node_file_read(const char *path, char **text, size_t *len,
    struct node_error *err)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		node_error_set(err, 0, 0, "%s", strerror(errno));
		return CT_ERROR;
	}
	rc = node_fd_read(fd, text, len, err);
	close(fd);
	return rc;
}

/* Frees n and everything under it; n may be NULL. */
void
node_tree_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nitems; i++)
		node_tree_free(n->items[i]);
	for (i = 0; i < n->npairs; i++) {
		node_tree_free(n->pairs[i].key);
		node_tree_free(n->pairs[i].value);
	}
	free(n->items);
	free(n->pairs);
	free(n->scalar);
	free(n);
}

/*
 * Returns arr, or arr moved, with room for element n (elements of size
 * sz); NULL if memory ran out, arr then being untouched.  Arrays grow
 * to the next power of two, at least 4, so the count alone tells when
 * one is full: at 0, and at every power of two >= 4.
 */
static void *
node_array_reserve(void *arr, size_t n, size_t sz)
{
	size_t ncap;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return arr;
	ncap = n == 0 ? 4 : n * 2;
	if (ncap > SIZE_MAX / sz)
		return NULL;
	return realloc(arr, ncap * sz);
}

/*
 * Hangs n under the collection on top of the stack, or makes it the
 * root.  In a mapping, a node is a key when the last pair already has
 * its value.  Takes ownership of n even on failure.
 */
static int
node_attach(struct node_builder *b, struct node *n, const yaml_mark_t *m)
{
	struct node *parent;
	struct node_pair *last;
	void *p;

	if (b->depth == 0) {
		b->root = n;
		return CT_OK;
	}
	parent = b->stack[b->depth - 1];
	if (parent->type == NODE_SEQUENCE) {
		p = node_array_reserve(parent->items, parent->nitems,
		    sizeof(*parent->items));
		if (p == NULL)
			goto oom;
		parent->items = p;
		parent->items[parent->nitems++] = n;
		return CT_OK;
	}
	last = parent->npairs > 0 ? &parent->pairs[parent->npairs - 1] : NULL;
	if (last != NULL && last->value == NULL) {
		last->value = n;
		return CT_OK;
	}
	if (n->type != NODE_SCALAR) {
		node_tree_free(n);
		return node_error_at(b, m, "mapping keys must be scalars");
	}
	p = node_array_reserve(parent->pairs, parent->npairs,
	    sizeof(*parent->pairs));
	if (p == NULL)
		goto oom;
	parent->pairs = p;
	parent->pairs[parent->npairs].key = n;
	parent->pairs[parent->npairs].value = NULL;
	parent->npairs++;
	return CT_OK;
oom:
	node_tree_free(n);
	return node_error_at(b, m, "out of memory");
}

/* A new, unattached node positioned at m; NULL if memory ran out. */
static struct node *
node_new(struct node_builder *b, enum node_type type, const yaml_mark_t *m)
{
	struct node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->type = type;
	n->file = b->file;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	return n;
}

/*
 * The tree keeps plain data only: an anchor would make one node
 * reachable twice (and open the door to alias bombs), and a tag would
 * ask for a type that the configuration does not have.
 */
static int
node_props_check(struct node_builder *b, const yaml_mark_t *m,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	if (anchor != NULL)
		return node_error_at(b, m,
		    "YAML anchors and aliases are not supported");
	if (tag != NULL)
		return node_error_at(b, m, "YAML tags are not supported");
	return CT_OK;
}

static int
node_scalar_add(struct node_builder *b, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const yaml_mark_t *m = &ev->start_mark;
	struct node *n;

	if (node_props_check(b, m, ev->data.scalar.anchor,
	    ev->data.scalar.tag) == CT_ERROR)
		return CT_ERROR;
	/* "\0" in a quoted scalar would silently cut the C string short */
	if (memchr(v, '\0', len) != NULL)
		return node_error_at(b, m, "NUL characters are not allowed");
	if ((n = node_new(b, NODE_SCALAR, m)) == NULL)
		return node_error_at(b, m, "out of memory");
	if ((n->scalar = malloc(len + 1)) == NULL) {
		free(n);
		return node_error_at(b, m, "out of memory");
	}
	memcpy(n->scalar, v, len);
	n->scalar[len] = '\0';
	n->len = len;
	return node_attach(b, n, m);
}

static int
node_collection_open(struct node_builder *b, const yaml_event_t *ev,
    enum node_type type, const yaml_char_t *anchor, const yaml_char_t *tag)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct node *n;

	if (node_props_check(b, m, anchor, tag) == CT_ERROR)
		return CT_ERROR;
	if (b->depth == NODE_DEPTH_MAX) {
		node_error_set(b->err, (unsigned)m->line + 1,
		    (unsigned)m->column + 1, "nesting deeper than %d levels",
		    NODE_DEPTH_MAX);
		return CT_ERROR;
	}
	if ((n = node_new(b, type, m)) == NULL)
		return node_error_at(b, m, "out of memory");
	if (node_attach(b, n, m) == CT_ERROR)
		return CT_ERROR;
	b->stack[b->depth++] = n;
	return CT_OK;
}

/* Applies one parser event to the tree under construction. */
static int
node_event_add(struct node_builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->documents++ > 0)
			return node_error_at(b, &ev->start_mark,
			    "only one YAML document is allowed");
		return CT_OK;
	case YAML_ALIAS_EVENT:
		return node_error_at(b, &ev->start_mark,
		    "YAML anchors and aliases are not supported");
	case YAML_SCALAR_EVENT:
		return node_scalar_add(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return node_collection_open(b, ev, NODE_SEQUENCE,
		    ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag);
	case YAML_MAPPING_START_EVENT:
		return node_collection_open(b, ev, NODE_MAPPING,
		    ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return CT_OK;
	default:
		return CT_OK;
	}
}

/*
 * The reader (bad UTF-8, control characters) gives a byte offset, not
 * a mark; count lines up to it so that its errors have a position too.
 */
static void
node_offset_locate(const char *text, size_t len, size_t off, unsigned *line,
    unsigned *col)
{
	size_t i, bol = 0;

	*line = 1;
	off = CT_MIN(off, len);
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			bol = i + 1;
		}
	}
	*col = (unsigned)(off - bol) + 1;
}

/* Turns libyaml's error state into err. */
static void
node_yaml_error(const yaml_parser_t *p, const char *text, size_t len,
    struct node_error *err)
{
	const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR) {
		node_error_set(err, 0, 0, "out of memory");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		node_offset_locate(text, len, p->problem_offset, &line, &col);
		node_error_set(err, line, col, "invalid input: %s", problem);
		return;
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context == NULL) {
		node_error_set(err, line, col, "syntax error: %s", problem);
		return;
	}
	/* "*:80" unquoted reads as an alias, a surprise worth a hint */
	node_error_set(err, line, col,
	    "syntax error: %s %s at line %u, column %u%s", problem,
	    p->context, (unsigned)p->context_mark.line + 1,
	    (unsigned)p->context_mark.column + 1,
	    strcmp(p->context, "while scanning an alias") == 0 ?
	    " (quote values that start with \"*\")" : "");
}

int
node_tree_parse(const char *file, const char *text, size_t len,
    struct node **root, struct node_error *err)
{
	struct node_builder b;
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = CT_OK, done = 0;

	*root = NULL;
	if (len > NODE_INPUT_MAX) {
		node_error_set(err, 0, 0, "larger than %u MiB",
		    NODE_INPUT_MAX >> 20);
		return CT_ERROR;
	}
	memset(&b, 0, sizeof(b));
	b.file = file;
	b.err = err;
	if (!yaml_parser_initialize(&p)) {
		node_error_set(err, 0, 0, "out of memory");
		return CT_ERROR;
	}
	yaml_parser_set_input_string(&p,
	    (const unsigned char *)(text != NULL ? text : ""), len);
	while (!done && rc == CT_OK) {
		if (!yaml_parser_parse(&p, &ev)) {
			node_yaml_error(&p, text, len, err);
			rc = CT_ERROR;
			break;
		}
		rc = node_event_add(&b, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rc == CT_ERROR) {
		node_tree_free(b.root);
		return CT_ERROR;
	}
	*root = b.root;
	return CT_OK;
}

/* The first pair of map whose key is key, or NULL. */
static const struct node_pair *
node_map_pair(const struct node *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != NODE_MAPPING)
		return NULL;
	for (i = 0; i < map->npairs; i++)
		if (strcmp(map->pairs[i].key->scalar, key) == 0)
			return &map->pairs[i];
	return NULL;
}

const struct node *
node_map_get(const struct node *map, const char *key)
{
	const struct node_pair *p = node_map_pair(map, key);

	return p != NULL ? p->value : NULL;
}

const struct node *
node_map_key(const struct node *map, const char *key)
{
	const struct node_pair *p = node_map_pair(map, key);

	return p != NULL ? p->key : NULL;
}

const char *
node_type_name(enum node_type type)
{
	switch (type) {
	case NODE_SCALAR:
		return "scalar";
	case NODE_SEQUENCE:
		return "sequence";
	case NODE_MAPPING:
		return "mapping";
	}
	return "unknown";
}
