/* cache.c - the cache directory and the measured-cost table (cache.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "env.h"

#define COST_FILE    "costs-v1.tsv"
#define MAX_COSTS    512
#define MAX_COST_KEY 160

/* mkdir -p */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        *p = '/';
        if (r && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

const char *lm_cache_dir(void)
{
    static _Thread_local char dir[4096];
    const char *v;
    if ((v = lm_env_str(LM_ENV_CACHE_DIR)))
        snprintf(dir, sizeof(dir), "%s", v);
    else if ((v = lm_env_str(LM_ENV_XDG_CACHE_HOME)))
        snprintf(dir, sizeof(dir), "%s/loom", v);
    else if ((v = lm_env_str(LM_ENV_HOME)))
        snprintf(dir, sizeof(dir), "%s/.cache/loom", v);
    else
        return NULL;
    if (make_dirs(dir))
        return NULL;
    return dir;
}

typedef struct cost_entry {
    char key[MAX_COST_KEY];
    double value;
} cost_entry;

static pthread_mutex_t costs_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the table below */
static cost_entry costs[MAX_COSTS];
static int n_costs;
static bool costs_loaded;

static cost_entry *find(const char *key)
{
    for (int i = 0; i < n_costs; i++)
        if (strcmp(costs[i].key, key) == 0)
            return &costs[i];
    return NULL;
}

/* Sets @key in the table (caller holds costs_lock); false when full. */
static bool set(const char *key, double value)
{
    cost_entry *e = find(key);
    if (!e && n_costs < MAX_COSTS) {
        e = &costs[n_costs++];
        snprintf(e->key, sizeof(e->key), "%s", key);
    }
    if (e)
        e->value = value;
    return e != NULL;
}

/* Merges the file's figures into the table (caller holds costs_lock). */
static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[MAX_COST_KEY + 64];
    while (fgets(line, sizeof(line), f)) {
        char *tab = strchr(line, '\t');
        if (!tab || (size_t)(tab - line) >= MAX_COST_KEY)
            continue;
        *tab = '\0';
        char *end;
        double v = strtod(tab + 1, &end);
        if (end != tab + 1 && !find(line))
            set(line, v);
    }
    fclose(f);
}

static bool cost_path(char *buf, size_t len)
{
    const char *dir = lm_cache_dir();
    return dir && (size_t)snprintf(buf, len, "%s/" COST_FILE, dir) < len;
}

bool lm_cost_cache_get(const char *key, double *value)
{
    char path[4200];
    pthread_mutex_lock(&costs_lock);
    if (!costs_loaded && cost_path(path, sizeof(path)))
        load(path);
    costs_loaded = true;
    cost_entry *e = find(key);
    if (e)
        *value = e->value;
    pthread_mutex_unlock(&costs_lock);
    return e != NULL;
}

/* Writes the whole table: another process's newer figures are merged first. */
static void save(const char *path)
{
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    load(path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    for (int i = 0; i < n_costs; i++)
        fprintf(f, "%s\t%.9g\n", costs[i].key, costs[i].value);
    if (fclose(f) == 0 && rename(tmp, path) == 0)
        return;
    unlink(tmp);
}

void lm_cost_cache_put(const char *key, double value)
{
    char path[4200];
    pthread_mutex_lock(&costs_lock);
    costs_loaded = true;
    if (set(key, value) && cost_path(path, sizeof(path)))
        save(path);
    pthread_mutex_unlock(&costs_lock);
}
