/*
 * "cuttlectl cert": makes a small CA and the server and client
 * certificates it signs, and shows certificates from a PEM file or from
 * a live TLS server.  It needs no admin socket.
 */
#ifndef CT_CTL_CERT_H
#define CT_CTL_CERT_H

/*
 * argv is {"cert", SUBCOMMAND, ...}, argc words, NULL-terminated; json
 * is the global --json.  Returns the exit status: 0, 1 on failure, 2 on
 * a usage error (the message is printed already).
 */
int ctl_cert_main(int argc, char **argv, int json);

#endif
