/*
 * ftp_notice: the admin's notice of an infected FTP file (template
 * ftp-admin), sent from a worker thread; see ftp_notice.c.
 */
#ifndef PC_FTP_NOTICE_H
#define PC_FTP_NOTICE_H

#include "daemon/runtime.h"
#include "inspect/inspect.h"

/* Sends it when out names a virus and the direction has notify_admin. */
void ftp_notice_admin(const struct runtime *rt, const char *next_hop, const struct inspect_ctx *ctx,
                      const char *command, const struct inspect_outcome *out);

#endif
