/*
 * script.c - the parser for kmodel's workload scripts.
 *
 * One operation a line: "OP ARG... [=> EXPECT]".  Blank lines and text
 * after '#' are ignored.  EXPECT is "ok", an errno name (ENOENT, ...) or an
 * operation-specific value such as "size=4096" or a list of names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "kmodel.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{ EPERM, "EPERM" }, { EFAULT, "EFAULT" }, { ENOENT, "ENOENT" }, { EIO, "EIO" }, { EBADF, "EBADF" },
	{ EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
	{ EBUSY, "EBUSY" }, { EEXIST, "EEXIST" }, { EXDEV, "EXDEV" },
	{ ENODEV, "ENODEV" }, { ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
	{ EINVAL, "EINVAL" }, { EFBIG, "EFBIG" }, { ENOSPC, "ENOSPC" },
	{ EROFS, "EROFS" }, { ENAMETOOLONG, "ENAMETOOLONG" }, { ENOSYS, "ENOSYS" },
	{ ENOTEMPTY, "ENOTEMPTY" }, { ENXIO, "ENXIO" }, { EOPNOTSUPP, "EOPNOTSUPP" },
	{ ENOTCONN, "ENOTCONN" }, { ETIMEDOUT, "ETIMEDOUT" }, { ESTALE, "ESTALE" },
	{ EUCLEAN, "EUCLEAN" }, { EPROTO, "EPROTO" }, { EINTR, "EINTR" },
	{ ENOTTY, "ENOTTY" }, { ERANGE, "ERANGE" }, { ENODATA, "ENODATA" },
};

int km_errno_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (!strcmp(errnames[i].name, name))
			return errnames[i].err;
	return 0;
}

const char *km_errno_name(int err)
{
	static char buf[16];
	size_t i;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "ok";
	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "errno%d", err);
	return buf;
}

static char *skip_ws(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static void rtrim(char *s)
{
	size_t l = strlen(s);

	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' ||
		     s[l - 1] == '\r'))
		s[--l] = 0;
}

/*
 * Parse one line in place.  Returns 1 for an operation, 0 for a blank or
 * comment line, -1 (with a message in err) for a malformed line.
 */
int km_parse_line(char *text, int lineno, struct km_cmd *cmd, char *err, size_t errlen)
{
	char *hash, *arrow, *p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->line = lineno;
	hash = strchr(text, '#');
	if (hash)
		*hash = 0;
	arrow = strstr(text, "=>");
	if (arrow) {
		*arrow = 0;
		cmd->expect = skip_ws(arrow + 2);
		rtrim(cmd->expect);
		if (!*cmd->expect) {
			snprintf(err, errlen, "line %d: nothing after '=>'", lineno);
			return -1;
		}
		if (strstr(cmd->expect, "=>")) {
			snprintf(err, errlen, "line %d: more than one '=>'", lineno);
			return -1;
		}
	}
	rtrim(text);
	p = skip_ws(text);
	if (!*p) {
		if (arrow) {
			snprintf(err, errlen, "line %d: expectation without an operation", lineno);
			return -1;
		}
		return 0;
	}
	cmd->op = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	while (*p) {
		*p++ = 0;
		p = skip_ws(p);
		if (!*p)
			break;
		if (cmd->argc == KM_MAX_ARGS) {
			snprintf(err, errlen, "line %d: more than %d arguments", lineno,
				 KM_MAX_ARGS);
			return -1;
		}
		cmd->argv[cmd->argc++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return 1;
}
