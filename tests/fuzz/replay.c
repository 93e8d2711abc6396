/*
 * Replays files through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so every crash the fuzzers ever found stays a regression test
 * in the normal suite (and under ASan, UBSan and valgrind).
 * usage: replay FILE-OR-DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf)
        return 1;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ++*count;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    if (!d)
        return 1;
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (nnames + 1) * sizeof(*names));
        if (!nn)
            break;
        names = nn;
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[nnames] = malloc(l);
        if (names[nnames])
            snprintf(names[nnames++], l, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (nnames)
        qsort(names, nnames, sizeof(*names), cmp);
    int bad = 0;
    for (size_t i = 0; i < nnames; i++) {
        bad |= replay(names[i], count);
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i], &count);
    printf("%d passed, %d failed\n", bad ? count - 1 : count, bad ? 1 : 0);
    return bad;
}
