/* cache.c - the cache directory and the measured-cost table (cache.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "env.h"

#define COST_FILE    "costs-v1.tsv"
#define MAX_COST_KEY 160
/* Slots of the open-addressing index: a power of two, twice the entries. */
#define INDEX_SLOTS (2 * LM_MAX_COSTS)

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
static cost_entry costs[LM_MAX_COSTS];
static int n_costs;
static int index_of[INDEX_SLOTS]; /* 1 + entry, 0 empty */
static bool costs_loaded;

static unsigned slot_of(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (INDEX_SLOTS - 1);
}

/* The slot holding @key, or the empty slot where it would go. */
static unsigned probe(const char *key)
{
    unsigned s = slot_of(key);
    while (index_of[s] && strcmp(costs[index_of[s] - 1].key, key) != 0)
        s = (s + 1) & (INDEX_SLOTS - 1);
    return s;
}

static cost_entry *find(const char *key)
{
    unsigned s = probe(key);
    return index_of[s] ? &costs[index_of[s] - 1] : NULL;
}

/* Sets @key in the table (caller holds costs_lock); false when full. */
static bool set(const char *key, double value)
{
    unsigned s = probe(key);
    if (!index_of[s]) {
        if (n_costs == LM_MAX_COSTS || strlen(key) >= MAX_COST_KEY)
            return false;
        snprintf(costs[n_costs].key, MAX_COST_KEY, "%s", key);
        index_of[s] = ++n_costs;
    }
    costs[index_of[s] - 1].value = value;
    return true;
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

/* Reads the file once per process (caller holds costs_lock). */
static void ensure_loaded(void)
{
    char path[4200];
    if (!costs_loaded && cost_path(path, sizeof(path)))
        load(path);
    costs_loaded = true;
}

bool lm_cost_cache_get(const char *key, double *value)
{
    pthread_mutex_lock(&costs_lock);
    ensure_loaded();
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

void lm_cost_cache_set(const char *key, double value)
{
    pthread_mutex_lock(&costs_lock);
    ensure_loaded();
    set(key, value);
    pthread_mutex_unlock(&costs_lock);
}

void lm_cost_cache_save(void)
{
    char path[4200];
    pthread_mutex_lock(&costs_lock);
    if (cost_path(path, sizeof(path)))
        save(path);
    pthread_mutex_unlock(&costs_lock);
}

void lm_cost_cache_put(const char *key, double value)
{
    lm_cost_cache_set(key, value);
    lm_cost_cache_save();
}

void lm_cost_cache_reset(void)
{
    pthread_mutex_lock(&costs_lock);
    n_costs = 0;
    memset(index_of, 0, sizeof(index_of));
    costs_loaded = false;
    pthread_mutex_unlock(&costs_lock);
}
