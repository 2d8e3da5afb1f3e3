/*
 * simulator.crypt._native: the per-sector encryption loop in C over OpenSSL's EVP API.
 *
 * Why: pyca/cryptography needs a new cipher context per XTS sector and Python-level work per
 * sector; this module keeps one EVP_CIPHER_CTX per worker, resets only the IV per sector,
 * releases the GIL for the whole batch and splits a batch across pthreads.  All cryptography is
 * OpenSSL's (libcrypto >= 3.0); nothing here implements a cipher.
 *
 * Sector formats (see simulator/crypt/spec.py and ARCHITECTURE.md):
 *   ALG_XTS    tweak = sector index as 64-bit little endian, zero padded to 16 bytes.
 *   ALG_GCM,   metadata per sector = nonce(12) || tag(16); AAD = sector index (64-bit LE) ||
 *   ALG_CHACHA nonce; nonces come from RAND_bytes, one call per batch (or are given).
 *   ALG_NULL   plaintext copy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "simulator.crypt._native needs OpenSSL >= 3.0"
#endif

enum { ALG_NULL = 0, ALG_XTS = 1, ALG_GCM = 2, ALG_CHACHA = 3 };

#define NONCE_LEN 12
#define TAG_LEN 16
#define META_LEN (NONCE_LEN + TAG_LEN)
#define AAD_LEN (8 + NONCE_LEN)
#define MAX_KEY 64
#define MAX_THREADS 64
#define MAX_UNIT (1 << 24)

/* ------------------------------------------------------------------ cipher lookup */

static EVP_CIPHER *cached[8];

/* XTS fast path.  Resetting only the tweak through EVP_CipherInit_ex() costs ~60 ns a sector
 * in OpenSSL 3.0 (the EVP layer re-derives lengths and dispatches), 10 % of a 4 KiB sector at
 * AES-NI speed.  The provider that implements the fetched cipher exposes the same init and
 * update functions through public API (OSSL_PROVIDER_query_operation + the OSSL_DISPATCH
 * table, provider-cipher(7)); calling them directly does exactly what EVP does minus that
 * bookkeeping.  Used for XTS only (slots 0 and 1), with the EVP loop as fallback if anything
 * is missing, and switchable off (set_xts_direct(False), FARGATE_SIM_NATIVE_EVP_ONLY=1). */
typedef struct {
    int ok;
    void *provctx;
    OSSL_FUNC_cipher_newctx_fn *newctx;
    OSSL_FUNC_cipher_freectx_fn *freectx;
    OSSL_FUNC_cipher_encrypt_init_fn *einit;
    OSSL_FUNC_cipher_decrypt_init_fn *dinit;
    OSSL_FUNC_cipher_update_fn *update;
} direct_t;

static direct_t direct[2];
static int xts_direct_enabled = 1;

static int name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncasecmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Look the cipher up in its provider's dispatch tables (GIL held: no lock needed). */
static void resolve_direct(direct_t *d, const EVP_CIPHER *cipher, const char *name)
{
    const OSSL_PROVIDER *prov = EVP_CIPHER_get0_provider(cipher);
    int no_store = 0;
    const OSSL_ALGORITHM *algs;
    memset(d, 0, sizeof *d);
    if (prov == NULL)
        return;
    algs = OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_store);
    for (const OSSL_ALGORITHM *a = algs; a != NULL && a->algorithm_names != NULL; a++) {
        if (!name_in_list(a->algorithm_names, name))
            continue;
        for (const OSSL_DISPATCH *f = a->implementation; f->function_id != 0; f++) {
            switch (f->function_id) {
            case OSSL_FUNC_CIPHER_NEWCTX: d->newctx = OSSL_FUNC_cipher_newctx(f); break;
            case OSSL_FUNC_CIPHER_FREECTX: d->freectx = OSSL_FUNC_cipher_freectx(f); break;
            case OSSL_FUNC_CIPHER_ENCRYPT_INIT: d->einit = OSSL_FUNC_cipher_encrypt_init(f); break;
            case OSSL_FUNC_CIPHER_DECRYPT_INIT: d->dinit = OSSL_FUNC_cipher_decrypt_init(f); break;
            case OSSL_FUNC_CIPHER_UPDATE: d->update = OSSL_FUNC_cipher_update(f); break;
            default: break;
            }
        }
        break;
    }
    if (algs != NULL)
        OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
    d->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    d->ok = d->provctx != NULL && d->newctx && d->freectx && d->einit && d->dinit && d->update;
}

/* Returns the fetched cipher for (alg, key length) or NULL with a Python error set.
 * Called with the GIL held, so the cache needs no lock. */
static const EVP_CIPHER *get_cipher(int alg, Py_ssize_t keylen)
{
    const char *name = NULL;
    int slot = -1;
    switch (alg) {
    case ALG_XTS:
        if (keylen == 32) { name = "AES-128-XTS"; slot = 0; }
        else if (keylen == 64) { name = "AES-256-XTS"; slot = 1; }
        break;
    case ALG_GCM:
        if (keylen == 16) { name = "AES-128-GCM"; slot = 2; }
        else if (keylen == 32) { name = "AES-256-GCM"; slot = 3; }
        break;
    case ALG_CHACHA:
        if (keylen == 32) { name = "ChaCha20-Poly1305"; slot = 4; }
        break;
    default:
        break;
    }
    if (name == NULL) {
        PyErr_Format(PyExc_ValueError, "unsupported algorithm %d with a %zd-byte key", alg, keylen);
        return NULL;
    }
    if (cached[slot] == NULL) {
        cached[slot] = EVP_CIPHER_fetch(NULL, name, NULL);
        if (cached[slot] == NULL) {
            PyErr_Format(PyExc_RuntimeError, "OpenSSL cannot fetch %s", name);
            ERR_clear_error();
            return NULL;
        }
        if (slot < 2) /* the fetched cipher keeps its provider loaded */
            resolve_direct(&direct[slot], cached[slot], name);
    }
    return cached[slot];
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* ------------------------------------------------------------------ the batch worker */

typedef struct {
    int alg;
    int enc;
    const EVP_CIPHER *cipher;
    const direct_t *direct; /* XTS fast path, or NULL for the EVP loop */
    int keylen;
    const unsigned char *key;
    const unsigned char *src;
    unsigned char *dst;
    unsigned char *meta; /* NULL for non-AEAD */
    uint64_t first_sector;
    const uint64_t *sectors; /* per-unit sector numbers (gathered batch), or NULL: first + i */
    size_t unit;
    size_t count;
    /* results */
    int ok;                 /* 0: an OpenSSL call failed (err/where say which) */
    unsigned long err;
    const char *where;
    long long first_bad;    /* AEAD decrypt: first failing index relative to the batch, or -1 */
    long long n_bad;
} job_t;

/* The sector number (XTS tweak, AEAD AAD) of unit i of a job. */
#define SECTOR_OF(j, i) ((j)->sectors != NULL ? (j)->sectors[i] : (j)->first_sector + (i))

#define FAIL(msg)                                                                             \
    do {                                                                                      \
        j->ok = 0;                                                                            \
        j->err = ERR_peek_last_error();                                                       \
        j->where = (msg);                                                                     \
        goto done;                                                                            \
    } while (0)

/* The XTS loop through the provider's own functions (see direct_t). */
static void run_xts_direct(job_t *j)
{
    const direct_t *d = j->direct;
    unsigned char iv[16];
    size_t outl = 0;
    void *actx = d->newctx(d->provctx);
    int ok = actx != NULL;
    if (ok)
        ok = (j->enc ? d->einit(actx, j->key, (size_t)j->keylen, NULL, 0, NULL)
                     : d->dinit(actx, j->key, (size_t)j->keylen, NULL, 0, NULL)) == 1;
    if (!ok) {
        j->ok = 0;
        j->err = ERR_peek_last_error();
        j->where = "XTS key setup";
    }
    memset(iv, 0, sizeof iv);
    OSSL_FUNC_cipher_encrypt_init_fn *reinit = j->enc ? d->einit : d->dinit;
    for (size_t i = 0; ok && i < j->count; i++) {
        put_le64(iv, SECTOR_OF(j, i));
        if (reinit(actx, NULL, 0, iv, sizeof iv, NULL) != 1 ||
            d->update(actx, j->dst + i * j->unit, &outl, j->unit, j->src + i * j->unit,
                      j->unit) != 1) {
            j->ok = 0;
            j->err = ERR_peek_last_error();
            j->where = "XTS sector";
            break;
        }
    }
    if (actx != NULL)
        d->freectx(actx);
    ERR_clear_error();
}

static void run_job(job_t *j)
{
    EVP_CIPHER_CTX *ctx = NULL;
    int outl = 0, outl2 = 0;
    unsigned char iv[16];
    unsigned char aad[AAD_LEN];

    j->ok = 1;
    j->first_bad = -1;
    j->n_bad = 0;
    if (j->count == 0)
        return;
    if (j->alg == ALG_NULL) {
        if (j->dst != j->src)
            memmove(j->dst, j->src, j->count * j->unit);
        return;
    }
    if (j->alg == ALG_XTS && j->direct != NULL) {
        run_xts_direct(j);
        return;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        FAIL("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex(ctx, j->cipher, NULL, j->key, NULL, j->enc) != 1)
        FAIL("EVP_CipherInit_ex(key)");

    if (j->alg == ALG_XTS) {
        memset(iv, 0, sizeof iv);
        for (size_t i = 0; i < j->count; i++) {
            put_le64(iv, SECTOR_OF(j, i));
            if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1)
                FAIL("EVP_CipherInit_ex(iv)");
            if (EVP_CipherUpdate(ctx, j->dst + i * j->unit, &outl, j->src + i * j->unit,
                                 (int)j->unit) != 1)
                FAIL("EVP_CipherUpdate");
        }
    } else {
        for (size_t i = 0; i < j->count; i++) {
            unsigned char *m = j->meta + i * META_LEN;
            unsigned char *out = j->dst + i * j->unit;
            put_le64(aad, SECTOR_OF(j, i));
            memcpy(aad + 8, m, NONCE_LEN);
            if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, m, -1) != 1)
                FAIL("EVP_CipherInit_ex(nonce)");
            if (!j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, m + NONCE_LEN) != 1)
                FAIL("EVP_CTRL_AEAD_SET_TAG");
            if (EVP_CipherUpdate(ctx, NULL, &outl, aad, AAD_LEN) != 1)
                FAIL("EVP_CipherUpdate(aad)");
            if (EVP_CipherUpdate(ctx, out, &outl, j->src + i * j->unit, (int)j->unit) != 1)
                FAIL("EVP_CipherUpdate");
            if (EVP_CipherFinal_ex(ctx, out + outl, &outl2) != 1) {
                if (j->enc)
                    FAIL("EVP_CipherFinal_ex");
                /* Authentication failed: never hand out unauthenticated plaintext. */
                OPENSSL_cleanse(out, j->unit);
                if (j->first_bad < 0)
                    j->first_bad = (long long)i;
                j->n_bad++;
                continue;
            }
            if (j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, m + NONCE_LEN) != 1)
                FAIL("EVP_CTRL_AEAD_GET_TAG");
        }
    }
done:
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error(); /* the error queue is per thread; results travel in the job */
}

/* ------------------------------------------------------------------ worker pool
 *
 * Spawning pthreads per 1 MiB batch costs tens of microseconds (a third of the batch), so
 * workers persist: each has a job slot; after a job it spins briefly for the next one (batches
 * arrive back to back) and then sleeps on its condition variable.  One caller at a time owns
 * the pool; a concurrent caller that finds it busy spawns its own threads instead.
 */

#define SPIN_NS 100000.0 /* how long an idle worker or a waiting caller spins before sleeping */

typedef struct {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *_Atomic job; /* pending job, taken by the worker */
    atomic_int done;     /* set by the worker when its job is finished */
} worker_t;

static worker_t *pool[MAX_THREADS];
static int pool_size;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of a polite spin: a few pause instructions, then sched_yield() so that a thread
 * sharing this CPU (the very worker being waited for, when the other cores are busy) runs.
 * Returns 0 once SPIN_NS has passed since t0. */
static inline int spin_step(int spins, double t0)
{
    if (spins < 64) {
        cpu_relax();
        return 1;
    }
    sched_yield();
    return (spins & 15) != 15 || (now_seconds() - t0) * 1e9 < SPIN_NS;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (;;) {
        job_t *j = atomic_exchange(&w->job, NULL);
        if (j == NULL) {
            double t0 = now_seconds();
            for (int spins = 0; j == NULL; spins++) {
                if (atomic_load_explicit(&w->job, memory_order_relaxed) != NULL)
                    j = atomic_exchange(&w->job, NULL);
                if (j == NULL && !spin_step(spins, t0))
                    break;
            }
            if (j == NULL) {
                pthread_mutex_lock(&w->mu);
                while ((j = atomic_exchange(&w->job, NULL)) == NULL)
                    pthread_cond_wait(&w->cv, &w->mu);
                pthread_mutex_unlock(&w->mu);
            }
        }
        run_job(j);
        pthread_mutex_lock(&w->mu);
        atomic_store(&w->done, 1);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* Grows the pool to n workers; returns how many exist.  Caller holds pool_mu. */
static int pool_grow(int n)
{
    while (pool_size < n) {
        worker_t *w = calloc(1, sizeof *w);
        if (w == NULL)
            break;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        atomic_init(&w->job, NULL);
        atomic_init(&w->done, 1);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        pthread_detach(w->tid);
        pool[pool_size++] = w;
    }
    return pool_size;
}

static void pool_submit(worker_t *w, job_t *j)
{
    atomic_store(&w->done, 0);
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->job, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void pool_wait(worker_t *w)
{
    double t0 = now_seconds();
    for (int spins = 0; !atomic_load(&w->done); spins++) {
        if (!spin_step(spins, t0))
            break;
    }
    if (!atomic_load(&w->done)) {
        pthread_mutex_lock(&w->mu);
        while (!atomic_load(&w->done))
            pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
}

/* A forked child has none of the parent's threads: start with an empty pool. */
static void pool_atfork_child(void)
{
    pool_size = 0;
    pthread_mutex_init(&pool_mu, NULL);
}

static void *job_thread(void *arg)
{
    run_job((job_t *)arg);
    return NULL;
}

/* Runs the jobs: jobs[0] on the calling thread, the rest on pool workers (or, when another
 * caller owns the pool, on freshly spawned threads).  Called with the GIL released. */
static void run_jobs(job_t *jobs, int n)
{
    if (n <= 1) {
        run_job(&jobs[0]);
        return;
    }
    if (pthread_mutex_trylock(&pool_mu) == 0) {
        int have = pool_grow(n - 1);
        for (int t = 1; t < n; t++)
            if (t - 1 < have)
                pool_submit(pool[t - 1], &jobs[t]);
        run_job(&jobs[0]);
        for (int t = 1; t < n; t++) {
            if (t - 1 < have)
                pool_wait(pool[t - 1]);
            else
                run_job(&jobs[t]);
        }
        pthread_mutex_unlock(&pool_mu);
        return;
    }
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int t = 1; t < n; t++)
        started[t] = pthread_create(&tids[t], NULL, job_thread, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < n; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            run_job(&jobs[t]);
    }
}

/* ------------------------------------------------------------------ helpers */

static int get_key(PyObject *obj, unsigned char *key, Py_ssize_t *keylen)
{
    Py_buffer kb;
    if (PyObject_GetBuffer(obj, &kb, PyBUF_SIMPLE) < 0)
        return -1;
    if (kb.len > MAX_KEY) {
        PyBuffer_Release(&kb);
        PyErr_SetString(PyExc_ValueError, "key too long");
        return -1;
    }
    memcpy(key, kb.buf, (size_t)kb.len);
    *keylen = kb.len;
    PyBuffer_Release(&kb);
    return 0;
}

static PyObject *openssl_error(const char *where, unsigned long err)
{
    char buf[256];
    if (err) {
        ERR_error_string_n(err, buf, sizeof buf);
        PyErr_Format(PyExc_RuntimeError, "OpenSSL %s failed: %s", where, buf);
    } else {
        PyErr_Format(PyExc_RuntimeError, "OpenSSL %s failed", where);
    }
    return NULL;
}

/* True when [a, a+la) and [b, b+lb) share a byte. */
static int ranges_overlap(const void *a, size_t la, const void *b, size_t lb)
{
    const unsigned char *pa = a, *pb = b;
    return la > 0 && lb > 0 && pa < pb + lb && pb < pa + la;
}

static const direct_t *xts_direct_for(int alg, Py_ssize_t keylen)
{
    int slot = keylen == 32 ? 0 : 1;
    if (alg != ALG_XTS || !xts_direct_enabled || !direct[slot].ok)
        return NULL;
    return &direct[slot];
}

/* ------------------------------------------------------------------ crypt_sectors */

PyDoc_STRVAR(crypt_sectors_doc,
"crypt_sectors(alg, encrypt, key, src, dst, first_sector, unit, metadata, threads, nonces_given,\n"
"              sectors=None)\n"
"--\n\n"
"Encrypt or decrypt len(src)//unit data units (sectors) from src into dst (may be the same\n"
"buffer).  metadata is a writable buffer of n*28 bytes for AEAD algorithms (nonce||tag per\n"
"sector), None otherwise.  sectors, when given, is a buffer of n native-endian uint64 sector\n"
"numbers (a gathered batch of sectors that are not consecutive; first_sector is ignored).  Returns (first_bad, n_bad): the index relative to the batch of the\n"
"first sector whose tag did not verify (-1 if none) and how many failed; their output is zeroed.");

static PyObject *crypt_sectors(PyObject *self, PyObject *args)
{
    int alg, enc, threads, nonces_given;
    PyObject *key_obj, *src_obj, *dst_obj, *meta_obj, *first_obj, *sectors_obj = Py_None;
    unsigned long long first_sector;
    Py_ssize_t unit;
    unsigned char key[MAX_KEY];
    Py_ssize_t keylen = 0;
    Py_buffer src = {0}, dst = {0}, meta = {0}, secs = {0};
    int have_src = 0, have_dst = 0, have_meta = 0, have_secs = 0;
    const EVP_CIPHER *cipher = NULL;
    PyObject *result = NULL;
    job_t jobs[MAX_THREADS];
    unsigned char *nonces = NULL;

    if (!PyArg_ParseTuple(args, "ipOOOOnOip|O:crypt_sectors", &alg, &enc, &key_obj, &src_obj,
                          &dst_obj, &first_obj, &unit, &meta_obj, &threads, &nonces_given,
                          &sectors_obj))
        return NULL;
    /* "K" would wrap a negative or too large index silently; this raises OverflowError */
    first_sector = PyLong_AsUnsignedLongLong(first_obj);
    if (first_sector == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (unit < 16 || unit > MAX_UNIT) {
        PyErr_Format(PyExc_ValueError, "data unit of %zd bytes is out of range 16..%d", unit, MAX_UNIT);
        return NULL;
    }
    if (alg != ALG_NULL) {
        if (get_key(key_obj, key, &keylen) < 0)
            return NULL;
        if ((cipher = get_cipher(alg, keylen)) == NULL)
            goto out;
    }
    if (PyObject_GetBuffer(src_obj, &src, PyBUF_SIMPLE) < 0)
        goto out;
    have_src = 1;
    if (PyObject_GetBuffer(dst_obj, &dst, PyBUF_WRITABLE) < 0)
        goto out;
    have_dst = 1;
    if (src.len % unit != 0) {
        PyErr_Format(PyExc_ValueError, "source length %zd is not a multiple of the %zd-byte sector",
                     src.len, unit);
        goto out;
    }
    if (dst.len != src.len) {
        PyErr_Format(PyExc_ValueError, "destination length %zd differs from source length %zd",
                     dst.len, src.len);
        goto out;
    }
    if (src.buf != dst.buf && ranges_overlap(src.buf, (size_t)src.len, dst.buf, (size_t)dst.len)) {
        PyErr_SetString(PyExc_ValueError, "source and destination overlap partially");
        goto out;
    }
    size_t n = (size_t)(src.len / unit);
    if (sectors_obj != Py_None) {
        if (PyObject_GetBuffer(sectors_obj, &secs, PyBUF_SIMPLE) < 0)
            goto out;
        have_secs = 1;
        if ((size_t)secs.len != n * sizeof(uint64_t)) {
            PyErr_Format(PyExc_ValueError, "sectors is %zd bytes, expected %zu (8 per unit)",
                         secs.len, n * sizeof(uint64_t));
            goto out;
        }
        if (((uintptr_t)secs.buf) % _Alignof(uint64_t) != 0) {
            PyErr_SetString(PyExc_ValueError, "sectors must be 8-byte aligned");
            goto out;
        }
    }
    int aead = (alg == ALG_GCM || alg == ALG_CHACHA);
    if (aead) {
        if (meta_obj == Py_None) {
            PyErr_SetString(PyExc_ValueError, "an AEAD cipher needs a metadata buffer");
            goto out;
        }
        /* filled on encrypt, only read on decrypt */
        if (PyObject_GetBuffer(meta_obj, &meta, enc ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
            goto out;
        have_meta = 1;
        if ((size_t)meta.len != n * META_LEN) {
            PyErr_Format(PyExc_ValueError, "metadata is %zd bytes, expected %zu (28 per sector)",
                         meta.len, n * META_LEN);
            goto out;
        }
        if (ranges_overlap(meta.buf, (size_t)meta.len, dst.buf, (size_t)dst.len) ||
            ranges_overlap(meta.buf, (size_t)meta.len, src.buf, (size_t)src.len)) {
            PyErr_SetString(PyExc_ValueError, "metadata overlaps the source or destination");
            goto out;
        }
    } else if (meta_obj != Py_None) {
        PyErr_SetString(PyExc_ValueError, "metadata is only used by AEAD ciphers");
        goto out;
    }
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > n)
        threads = n > 0 ? (int)n : 1;

    int rand_ok = 1;
    Py_BEGIN_ALLOW_THREADS
    if (aead && enc && !nonces_given && n > 0) {
        /* One RAND_bytes call per batch, then spread the nonces into the metadata slots. */
        nonces = PyMem_RawMalloc(n * NONCE_LEN);
        rand_ok = nonces != NULL;
        /* RAND_bytes takes an int length: draw huge batches in pieces */
        for (size_t done = 0, total = n * NONCE_LEN; rand_ok && done < total;) {
            size_t piece = total - done < (1u << 30) ? total - done : (1u << 30);
            rand_ok = RAND_bytes(nonces + done, (int)piece) == 1;
            done += piece;
        }
        if (rand_ok) {
            unsigned char *m = meta.buf;
            for (size_t i = 0; i < n; i++)
                memcpy(m + i * META_LEN, nonces + i * NONCE_LEN, NONCE_LEN);
        }
    }
    if (rand_ok) {
        size_t base = n / threads, extra = n % threads, start = 0;
        for (int t = 0; t < threads; t++) {
            size_t cnt = base + ((size_t)t < extra ? 1 : 0);
            job_t *j = &jobs[t];
            j->alg = alg;
            j->enc = enc;
            j->cipher = cipher;
            j->direct = xts_direct_for(alg, keylen);
            j->keylen = (int)keylen;
            j->key = key;
            j->src = (const unsigned char *)src.buf + start * unit;
            j->dst = (unsigned char *)dst.buf + start * unit;
            j->meta = aead ? (unsigned char *)meta.buf + start * META_LEN : NULL;
            j->first_sector = first_sector + start;
            j->sectors = have_secs ? (const uint64_t *)secs.buf + start : NULL;
            j->unit = (size_t)unit;
            j->count = cnt;
            start += cnt;
        }
        run_jobs(jobs, threads);
    }
    Py_END_ALLOW_THREADS

    if (!rand_ok) {
        openssl_error("RAND_bytes", ERR_get_error());
        goto out;
    }
    long long first_bad = -1, n_bad = 0;
    for (int t = 0; t < threads; t++) {
        if (!jobs[t].ok) {
            openssl_error(jobs[t].where, jobs[t].err);
            goto out;
        }
        if (jobs[t].first_bad >= 0) {
            long long idx = (long long)((jobs[t].src - (const unsigned char *)src.buf) / unit) +
                            jobs[t].first_bad;
            if (first_bad < 0 || idx < first_bad)
                first_bad = idx;
            n_bad += jobs[t].n_bad;
        }
    }
    result = Py_BuildValue("(LL)", first_bad, n_bad);
out:
    if (nonces)
        PyMem_RawFree(nonces);
    OPENSSL_cleanse(key, sizeof key);
    if (have_secs)
        PyBuffer_Release(&secs);
    if (have_meta)
        PyBuffer_Release(&meta);
    if (have_dst)
        PyBuffer_Release(&dst);
    if (have_src)
        PyBuffer_Release(&src);
    return result;
}

/* ------------------------------------------------------------------ crypt_one (vectors) */

PyDoc_STRVAR(crypt_one_doc,
"crypt_one(alg, encrypt, key, iv, data, aad=b'', tag=None) -> (out, tag) or None\n"
"--\n\n"
"One message through the same EVP calls the batch loop uses, with an explicit IV/tweak and\n"
"AAD: for checking against published test vectors.  Returns None when an AEAD tag fails.");

static PyObject *crypt_one(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"alg", "encrypt", "key", "iv", "data", "aad", "tag", NULL};
    int alg, enc;
    PyObject *key_obj;
    Py_buffer iv = {0}, data = {0}, aad = {0}, tag = {0};
    unsigned char key[MAX_KEY];
    Py_ssize_t keylen;
    const EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx = NULL;
    PyObject *out = NULL, *result = NULL;
    unsigned char tagbuf[TAG_LEN];
    int outl = 0, outl2 = 0, ok;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ipOy*y*|y*y*:crypt_one", kwlist, &alg, &enc,
                                     &key_obj, &iv, &data, &aad, &tag))
        return NULL;
    if (get_key(key_obj, key, &keylen) < 0)
        goto out;
    if ((cipher = get_cipher(alg, keylen)) == NULL)
        goto out;
    int aead = alg == ALG_GCM || alg == ALG_CHACHA;
    if (data.len > INT32_MAX || aad.len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "data and aad must be under 2 GiB");
        goto out;
    }
    if (iv.len != (aead ? NONCE_LEN : 16)) {
        PyErr_Format(PyExc_ValueError, "iv must be %d bytes", aead ? NONCE_LEN : 16);
        goto out;
    }
    if (aead && !enc && tag.buf != NULL && tag.len != TAG_LEN) {
        PyErr_SetString(PyExc_ValueError, "tag must be 16 bytes");
        goto out;
    }
    if (aead && !enc && tag.buf == NULL) {
        PyErr_SetString(PyExc_ValueError, "decrypting needs the tag");
        goto out;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out == NULL)
        goto out;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    ctx = EVP_CIPHER_CTX_new();
    ok = ctx != NULL && EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv.buf, -1) == 1;
    if (ok && aead && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag.buf) == 1;
    if (ok && aead && aad.len > 0)
        ok = EVP_CipherUpdate(ctx, NULL, &outl, aad.buf, (int)aad.len) == 1;
    if (ok && (data.len > 0 || !aead))
        ok = EVP_CipherUpdate(ctx, o, &outl, data.buf, (int)data.len) == 1;
    else
        outl = 0;
    if (!ok) {
        openssl_error("cipher", ERR_get_error());
        Py_CLEAR(out);
        goto out;
    }
    if (aead) {
        if (EVP_CipherFinal_ex(ctx, o + outl, &outl2) != 1) {
            ERR_clear_error();
            Py_CLEAR(out);
            if (enc) {
                openssl_error("EVP_CipherFinal_ex", 0);
                goto out;
            }
            result = Py_NewRef(Py_None);
            goto out;
        }
        if (enc) {
            if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tagbuf) != 1) {
                openssl_error("EVP_CTRL_AEAD_GET_TAG", ERR_get_error());
                Py_CLEAR(out);
                goto out;
            }
            result = Py_BuildValue("(Ny#)", out, tagbuf, (Py_ssize_t)TAG_LEN);
        } else {
            result = Py_BuildValue("(NO)", out, Py_None);
        }
    } else {
        result = Py_BuildValue("(NO)", out, Py_None);
    }
    out = NULL;
out:
    Py_XDECREF(out);
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof key);
    PyBuffer_Release(&iv);
    PyBuffer_Release(&data);
    if (aad.buf)
        PyBuffer_Release(&aad);
    if (tag.buf)
        PyBuffer_Release(&tag);
    return result;
}

/* ------------------------------------------------------------------ ceiling (openssl speed) */

PyDoc_STRVAR(ceiling_doc,
"ceiling(alg, encrypt, key, buf, unit, iterations) -> seconds\n"
"--\n\n"
"The loop `openssl speed -evp` runs: EVP_CipherUpdate in place over buf in data units of `unit`\n"
"bytes with one key and no per-unit IV reset, `iterations` passes, GIL released.  Returns the\n"
"elapsed wall time in seconds; the ceiling for OpenSSL-backed code on this library.");

static PyObject *ceiling(PyObject *self, PyObject *args)
{
    int alg, enc;
    PyObject *key_obj, *buf_obj;
    Py_ssize_t unit;
    long long iterations;
    unsigned char key[MAX_KEY];
    Py_ssize_t keylen;
    Py_buffer buf = {0};
    const EVP_CIPHER *cipher;
    unsigned char iv[16] = {0};
    double elapsed = 0;
    int ok = 1;
    unsigned long err = 0;

    if (!PyArg_ParseTuple(args, "ipOOnL:ceiling", &alg, &enc, &key_obj, &buf_obj, &unit, &iterations))
        return NULL;
    if (unit < 16 || unit > MAX_UNIT) {
        PyErr_SetString(PyExc_ValueError, "unit out of range");
        return NULL;
    }
    if (get_key(key_obj, key, &keylen) < 0)
        return NULL;
    if ((cipher = get_cipher(alg, keylen)) == NULL) {
        OPENSSL_cleanse(key, sizeof key);
        return NULL;
    }
    if (PyObject_GetBuffer(buf_obj, &buf, PyBUF_WRITABLE) < 0) {
        OPENSSL_cleanse(key, sizeof key);
        return NULL;
    }
    size_t n = (size_t)(buf.len / unit);
    Py_BEGIN_ALLOW_THREADS
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl;
    ok = ctx != NULL && EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, enc) == 1;
    if (ok && !enc && (alg == ALG_GCM || alg == ALG_CHACHA)) {
        unsigned char faketag[TAG_LEN] = {0xcc};
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, faketag);
    }
    double t0 = now_seconds();
    for (long long it = 0; ok && it < iterations; it++) {
        unsigned char *p = buf.buf;
        for (size_t i = 0; i < n; i++) {
            if (EVP_CipherUpdate(ctx, p + i * unit, &outl, p + i * unit, (int)unit) != 1) {
                /* as openssl speed does: reset the IV (e.g. GCM counter exhausted) */
                if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1) {
                    ok = 0;
                    break;
                }
            }
        }
    }
    elapsed = now_seconds() - t0;
    if (!ok)
        err = ERR_peek_last_error();
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    Py_END_ALLOW_THREADS
    OPENSSL_cleanse(key, sizeof key);
    PyBuffer_Release(&buf);
    if (!ok)
        return openssl_error("ceiling loop", err);
    return PyFloat_FromDouble(elapsed);
}

/* ------------------------------------------------------------------ misc */

static PyObject *openssl_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(OpenSSL_version(OPENSSL_VERSION));
}

static PyObject *set_xts_direct(PyObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    int was = xts_direct_enabled;
    xts_direct_enabled = on;
    return PyBool_FromLong(was);
}

static PyObject *xts_path(PyObject *self, PyObject *unused)
{
    /* which loop XTS uses now; fetching AES-256-XTS resolves the provider functions */
    if (get_cipher(ALG_XTS, 64) == NULL)
        return NULL;
    return PyUnicode_FromString(xts_direct_enabled && direct[1].ok ? "provider" : "evp");
}

static PyObject *random_bytes(PyObject *self, PyObject *args)
{
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n:random_bytes", &n))
        return NULL;
    if (n < 0 || n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "bad length");
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, n);
    if (b == NULL)
        return NULL;
    if (RAND_bytes((unsigned char *)PyBytes_AS_STRING(b), (int)n) != 1) {
        Py_DECREF(b);
        return openssl_error("RAND_bytes", ERR_get_error());
    }
    return b;
}

static PyMethodDef methods[] = {
    {"crypt_sectors", crypt_sectors, METH_VARARGS, crypt_sectors_doc},
    {"crypt_one", (PyCFunction)(void (*)(void))crypt_one, METH_VARARGS | METH_KEYWORDS, crypt_one_doc},
    {"ceiling", ceiling, METH_VARARGS, ceiling_doc},
    {"openssl_version", openssl_version, METH_NOARGS,
     "openssl_version() -> str\n--\n\nThe version string of the libcrypto loaded at run time."},
    {"set_xts_direct", set_xts_direct, METH_O,
     "set_xts_direct(on) -> bool\n--\n\nUse the provider's XTS functions directly (True, the "
     "default) or the EVP_CipherInit_ex loop; returns the previous setting."},
    {"xts_path", xts_path, METH_NOARGS,
     "xts_path() -> str\n--\n\n'provider' or 'evp': the loop XTS sectors go through."},
    {"random_bytes", random_bytes, METH_VARARGS,
     "random_bytes(n) -> bytes\n--\n\nn bytes from OpenSSL's RAND_bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_native",
    "Per-sector encryption loops over OpenSSL's EVP API (see simulator.crypt.engines).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    const char *evp_only = getenv("FARGATE_SIM_NATIVE_EVP_ONLY");
    if (evp_only != NULL && strcmp(evp_only, "1") == 0)
        xts_direct_enabled = 0;
    static int atfork_registered;
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, pool_atfork_child);
        atfork_registered = 1;
    }
    if (PyModule_AddIntConstant(m, "ALG_NULL", ALG_NULL) < 0 ||
        PyModule_AddIntConstant(m, "ALG_XTS", ALG_XTS) < 0 ||
        PyModule_AddIntConstant(m, "ALG_GCM", ALG_GCM) < 0 ||
        PyModule_AddIntConstant(m, "ALG_CHACHA", ALG_CHACHA) < 0 ||
        PyModule_AddIntConstant(m, "MAX_THREADS", MAX_THREADS) < 0 ||
        PyModule_AddStringConstant(m, "OPENSSL_HEADER_VERSION", OPENSSL_VERSION_TEXT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
