/*
 * monitor: the [metrics] listener's routes on net/httpd. GET /metrics is the
 * metrics registry (util/metrics) with the gauges read at each scrape
 * (quarantine, hold, seal, signatures); GET /healthz checks the engine,
 * the spool's free space and every SMTP next hop. Both are answered from a
 * workq job (SQLite, statvfs, connect) on the running runtime.
 */
#ifndef PC_MONITOR_H
#define PC_MONITOR_H

#include <event2/event.h>

#include "conf/conf.h"

struct workq;
struct proxy;
struct outbreak;
struct monitor;

/*
 * Serves on fd (taken over, closed on failure too); ob may be NULL (no
 * outbreak control). NULL with *err.
 */
struct monitor *monitor_new(struct event_base *base, struct workq *wq, int fd,
                            const struct pc_config *c, struct proxy *px, struct outbreak *ob,
                            char **err);
void monitor_free(struct monitor *m);

#endif
