/*
 * A YAML document as a small tree of scalars, sequences and mappings,
 * each node carrying the position it was written at, so that every
 * later check can name file, line and column.  Only the plain data
 * model is supported: anchors, aliases and tags are refused.
 */
#ifndef CT_CONF_NODE_H
#define CT_CONF_NODE_H

#include <stddef.h>

#define NODE_DEPTH_MAX  64              /* nested sequences and mappings */
#define NODE_INPUT_MAX  (4u << 20)      /* bytes of YAML */
#define NODE_ERROR_LEN  256

enum node_type {
	NODE_SCALAR,    /* text, always NUL-terminated */
	NODE_SEQUENCE,  /* ordered items */
	NODE_MAPPING    /* key/value pairs in file order; keys are scalars */
};

struct node_pair {
	struct node *key;
	struct node *value;
};

struct node {
	enum node_type type;
	const char *file;           /* borrowed from the parser's caller */
	unsigned line;              /* 1-based */
	unsigned col;               /* 1-based */
	char *scalar;               /* NODE_SCALAR */
	size_t len;                 /* NODE_SCALAR, without the NUL */
	struct node **items;        /* NODE_SEQUENCE */
	size_t nitems;
	struct node_pair *pairs;    /* NODE_MAPPING */
	size_t npairs;
};

/* Why parsing or reading failed; line 0 means "no position". */
struct node_error {
	unsigned line;
	unsigned col;
	char msg[NODE_ERROR_LEN];
};

/*
 * Reads all of path into *text (malloc'd, NUL-terminated, length in
 * *len).  Fails with strerror() text in err, or if the file is larger
 * than NODE_INPUT_MAX.
 */
int node_file_read(const char *path, char **text, size_t *len,
    struct node_error *err);

/*
 * Parses one YAML document from text[0..len) into *root; an empty
 * stream gives *root == NULL.  file is stored in every node and must
 * outlive the tree.  On CT_ERROR nothing is allocated and err holds
 * the message and its position.
 */
int node_tree_parse(const char *file, const char *text, size_t len,
    struct node **root, struct node_error *err);

void node_tree_free(struct node *root);

/* The value of the first pair whose key is key, or NULL. */
const struct node *node_map_get(const struct node *map, const char *key);

/* The key node of that same pair, for errors about the key itself. */
const struct node *node_map_key(const struct node *map, const char *key);

/* "scalar", "sequence", "mapping": for messages. */
const char *node_type_name(enum node_type type);

#endif
