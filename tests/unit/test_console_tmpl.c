/*
 * Unit tests for the console's small parts: provider/tmpl (variables
 * escaped, fragments raw, unknown names empty, stray braces copied, file
 * names checked) and provider/cpass (scrypt lines round trip, a wrong
 * password and malformed lines refused, the file written 0600).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "provider/cpass.h"
#include "provider/tmpl.h"

static char *
render(const char *text, const struct tmpl_var *v, size_t n)
{
	struct sbuf b = {0};

	tmpl_render(&b, text, v, n);
	return sb_take(&b);
}

static void
test_render(void **state)
{
	const struct tmpl_var v[] = {
	    {"a", "<b>&\"x'"}, {"frag", "<tr><td>1</td></tr>"}, {"none", NULL}};
	char *s;

	(void)state;
	s = render("[{{a}}] [{{{frag}}}] [{{frag}}] [{{none}}] [{{unknown}}]", v, 3);
	assert_string_equal(s, "[&lt;b&gt;&amp;&quot;x&#39;] [<tr><td>1</td></tr>] "
	                       "[&lt;tr&gt;&lt;td&gt;1&lt;/td&gt;&lt;/tr&gt;] [] []");
	free(s);
	/* not variables: copied as they are */
	s = render("{{ a }} {{a} {{ {{}} {{a-b}} }} {{", v, 3);
	assert_string_equal(s, "{{ a }} {{a} {{ {{}} {{a-b}} }} {{");
	free(s);
	s = render("x{{{a}}y{{a}}}", v, 3);
	assert_string_equal(s, "x{{{a}}y&lt;b&gt;&amp;&quot;x&#39;}");
	free(s);
	s = render("", v, 3);
	assert_string_equal(s, "");
	free(s);
}

static void
test_load_names(void **state)
{
	char dir[] = "/tmp/pc-tmpl-XXXXXX", path[64], *out = NULL, *err = NULL;
	size_t len;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/page.html", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello {{x}}", f);
	fclose(f);
	assert_int_equal(tmpl_load(dir, "page.html", &out, &len, &err), 0);
	assert_string_equal(out, "hello {{x}}");
	assert_int_equal(len, 11);
	free(out);
	for (const char *const *n =
	         (const char *const[]){"../page.html", "page", ".html", "Page.html", "page.html.x",
	                               "a/b.css", "page.HTML", "", "missing.html", NULL};
	     *n != NULL; n++)
		assert_int_equal(tmpl_load(dir, *n, &out, &len, &err), 1);
	assert_null(err);
	unlink(path);
	rmdir(dir);
}

static void
test_cpass(void **state)
{
	char dir[] = "/tmp/pc-cpass-XXXXXX", *line, *again, *err = NULL, path[64];
	struct stat st;

	(void)state;
	line = cpass_hash("correct horse", &err);
	assert_non_null(line);
	assert_int_equal(strncmp(line, "scrypt$32768$8$1$", 17), 0);
	assert_int_equal(strlen(line), 17 + 32 + 1 + 64);
	assert_int_equal(cpass_verify(line, "correct horse", &err), 1);
	assert_int_equal(cpass_verify(line, "correct horsE", &err), 0);
	assert_int_equal(cpass_verify(line, "", &err), 0);
	/* a second hash of the same password differs (salt) and verifies */
	again = cpass_hash("correct horse", &err);
	assert_string_not_equal(line, again);
	assert_int_equal(cpass_verify(again, "correct horse", &err), 1);
	free(again);
	for (const char *const *b =
	         (const char *const[]){"", "scrypt$", "bcrypt$1$2$3$00$00", "scrypt$3$8$1$00$00",
	                               "scrypt$1048576$64$64$00112233445566778899aabbccddeeff$"
	                               "00112233445566778899aabbccddeeff",
	                               "scrypt$16$8$1$zz$00112233445566778899aabbccddeeff",
	                               "scrypt$16$8$1$00$0011",
	                               "scrypt$16$8$1$00$00112233445566778899aabbccddeeff$", NULL};
	     *b != NULL; b++) {
		assert_int_equal(cpass_verify(*b, "x", &err), -1);
		assert_non_null(err);
		free(err);
		err = NULL;
	}
	/* the file */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cpass_load(dir, &again, &err), 1);
	assert_int_equal(cpass_store(dir, line, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, CPASS_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cpass_load(dir, &again, &err), 0);
	assert_string_equal(again, line);
	free(again);
	free(line);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_load_names),
	    cmocka_unit_test(test_cpass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
