/*
 * runtime: builds and reference-counts the daemon's wiring. Owns the config
 * copy and every object built from it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/tls.h"
#include "daemon/runtime.h"
#include "util/log.h"
#include "util/xalloc.h"

struct runtime *
runtime_build(struct pc_config *c, char **err)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	char *e = NULL;

	*err = NULL;
	rt->refs = 1;
	rt->conf = *c;
	memset(c, 0, sizeof(*c));
	if (gethostname(rt->hostname, sizeof(rt->hostname) - 1) < 0 || rt->hostname[0] == '\0')
		strcpy(rt->hostname, "localhost");
	if (policy_init(&rt->policy, &rt->conf, err) < 0)
		goto fail;
	if ((rt->templates = notify_templates_load(rt->conf.notify_template_dir, err)) == NULL)
		goto fail;
	if ((rt->quarantine = quarantine_open(rt->conf.quarantine_dir, err)) == NULL)
		goto fail;
	rt->client_tls = tls_client_ctx();
	rt->server_tls = xcalloc(rt->conf.nlisteners ? rt->conf.nlisteners : 1, sizeof(SSL_CTX *));
	rt->xforward_hosts =
	    xcalloc(rt->conf.nlisteners ? rt->conf.nlisteners : 1, sizeof(struct cidr_list));
	rt->smtp_access =
	    xcalloc(rt->conf.nlisteners ? rt->conf.nlisteners : 1, sizeof(struct access_rules));
	rt->ftp_access = xcalloc(rt->conf.nftp_listeners ? rt->conf.nftp_listeners : 1,
	                         sizeof(struct access_rules));
	for (size_t i = 0; i < rt->conf.nlisteners; i++) {
		const struct smtp_listener_conf *lc = &rt->conf.listeners[i];
		char bad[80];

		if (cidr_list_parse(lc->authorized_xforward_hosts, &rt->xforward_hosts[i], bad,
		                    sizeof(bad)) < 0) {
			*err = xasprintf("[%s] authorized_xforward_hosts: bad network %s", lc->name,
			                 bad);
			goto fail;
		}
		if (access_rules_init(&rt->smtp_access[i], lc->clients, lc->limit_exceptions,
		                      lc->max_sessions_per_client, lc->max_connection_rate,
		                      &e) < 0) {
			*err = xasprintf("[%s] %s", lc->name, e);
			free(e);
			goto fail;
		}

		if (lc->tls_cert[0] == '\0')
			continue;
		if ((rt->server_tls[i] = tls_server_ctx(lc->tls_cert, lc->tls_key, err)) == NULL)
			goto fail;
	}
	/* Toward FTP servers TLS 1.2 at most: vsftpd 3.0.3 (Debian 12) fails
	 * every upload over a TLS 1.3 data connection (426 Failure reading
	 * network stream; curl alone shows it too). */
	rt->ftp_client_tls = tls_client_ctx();
	SSL_CTX_set_max_proto_version(rt->ftp_client_tls, TLS1_2_VERSION);
	rt->ftp_tls =
	    xcalloc(rt->conf.nftp_listeners ? rt->conf.nftp_listeners : 1, sizeof(SSL_CTX *));
	for (size_t i = 0; i < rt->conf.nftp_listeners; i++) {
		const struct ftp_listener_conf *fc = &rt->conf.ftp_listeners[i];

		if (access_rules_init(&rt->ftp_access[i], fc->clients, fc->limit_exceptions,
		                      fc->max_sessions_per_client, fc->max_connection_rate,
		                      &e) < 0) {
			*err = xasprintf("[%s] %s", fc->name, e);
			free(e);
			goto fail;
		}
		if (fc->tls_cert == NULL || fc->tls_cert[0] == '\0')
			continue;
		if ((rt->ftp_tls[i] = tls_server_ctx(fc->tls_cert, fc->tls_key, err)) == NULL)
			goto fail;
	}
	/* Last: the expensive part. */
	if ((rt->scanner = scanner_new(&rt->conf, err)) == NULL)
		goto fail;
	rt->inspect.scanner = rt->scanner;
	rt->inspect.policy = &rt->policy;
	rt->inspect.quarantine = rt->quarantine;
	rt->inspect.templates = rt->templates;
	rt->inspect.spool_dir = rt->conf.spool_dir;
	return rt;
fail:
	runtime_unref(rt);
	return NULL;
}

struct runtime *
runtime_ref(struct runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void
runtime_unref(struct runtime *rt)
{
	if (rt == NULL)
		return;
	if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
		return;
	scanner_free(rt->scanner);
	quarantine_free(rt->quarantine);
	notify_templates_free(rt->templates);
	if (rt->server_tls)
		for (size_t i = 0; i < rt->conf.nlisteners; i++)
			if (rt->server_tls[i])
				SSL_CTX_free(rt->server_tls[i]);
	free(rt->server_tls);
	if (rt->ftp_tls)
		for (size_t i = 0; i < rt->conf.nftp_listeners; i++)
			if (rt->ftp_tls[i])
				SSL_CTX_free(rt->ftp_tls[i]);
	free(rt->ftp_tls);
	if (rt->xforward_hosts)
		for (size_t i = 0; i < rt->conf.nlisteners; i++)
			cidr_list_free(&rt->xforward_hosts[i]);
	free(rt->xforward_hosts);
	if (rt->smtp_access)
		for (size_t i = 0; i < rt->conf.nlisteners; i++)
			access_rules_free(&rt->smtp_access[i]);
	free(rt->smtp_access);
	if (rt->ftp_access)
		for (size_t i = 0; i < rt->conf.nftp_listeners; i++)
			access_rules_free(&rt->ftp_access[i]);
	free(rt->ftp_access);
	if (rt->client_tls)
		SSL_CTX_free(rt->client_tls);
	if (rt->ftp_client_tls)
		SSL_CTX_free(rt->ftp_client_tls);
	policy_free(&rt->policy);
	conf_free(&rt->conf);
	free(rt);
}

const struct smtp_listener_conf *
runtime_listener(const struct runtime *rt, const char *name, size_t *idx)
{
	for (size_t i = 0; i < rt->conf.nlisteners; i++)
		if (strcmp(rt->conf.listeners[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &rt->conf.listeners[i];
		}
	return NULL;
}

const char *
runtime_hostname(const struct runtime *rt, const struct smtp_listener_conf *lc)
{
	return lc->hostname[0] ? lc->hostname : rt->hostname;
}
