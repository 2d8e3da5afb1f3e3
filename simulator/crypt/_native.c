/*
 * simulator.crypt._native: the per-sector encryption loops in C, over two libraries.
 *
 * Why: pyca/cryptography needs a new cipher context per XTS sector and Python-level work per
 * sector.  Here a key is bound once (Bound: key schedule and per-worker contexts built once),
 * each call resets only the IV/tweak per sector, releases the GIL for the whole batch and
 * splits large batches across persistent pthreads.  Backends: OpenSSL's libcrypto (>= 3.0,
 * linked; every cipher) and Intel IPP Crypto (libippcp, dlopen'ed at run time when present;
 * AES-XTS and AES-GCM, with its AVX-512/VAES code on CPUs that have it).  All cryptography is
 * the libraries'; nothing here implements a cipher.
 *
 * Sector formats (see simulator/crypt/spec.py and ARCHITECTURE.md):
 *   ALG_XTS    tweak = sector index as 64-bit little endian, zero padded to 16 bytes.
 *   ALG_GCM,   metadata per sector = nonce(12) || tag(16); AAD = sector index (64-bit LE) ||
 *   ALG_CHACHA nonce; nonces come from RAND_bytes, one call per batch (or are given).
 *   ALG_NULL   plaintext copy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX, READONLY: reading __slots__ members directly */

#include <openssl/core.h>
#include <openssl/core_names.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <immintrin.h>
#endif
#include <dlfcn.h>
#include <sys/mman.h> /* MAP_NORESERVE, for store.py on Pythons whose mmap module lacks it */
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
 * bookkeeping.  Used for XTS (slots 0 and 1), with the EVP loop as fallback if anything is
 * missing, and switchable off (set_xts_direct(False), FARGATE_SIM_NATIVE_EVP_ONLY=1).
 *
 * The AEADs (slots 2-4: AES-GCM, ChaCha20-Poly1305) take the same path for the same reason,
 * more so: a per-sector message through EVP is init(nonce) + [set tag] + update(AAD) +
 * update + final + [get tag], and in OpenSSL 3.0 the init alone asks the provider for the IV
 * length through an OSSL_PARAM lookup and the tag ctrls build and parse parameter arrays:
 * about 1,000 instructions a 512-byte sector (callgrind: 4,300 through EVP, 3,250 direct,
 * 2,250 for OpenSSL's own stream loop with no per-sector message).  Direct, each step is the
 * provider's own function with a one-entry parameter array (set_aead_direct(False) and
 * FARGATE_SIM_NATIVE_EVP_ONLY=1 select the EVP loop). */
typedef struct {
    int ok;
    void *provctx;
    OSSL_FUNC_cipher_newctx_fn *newctx;
    OSSL_FUNC_cipher_freectx_fn *freectx;
    OSSL_FUNC_cipher_encrypt_init_fn *einit;
    OSSL_FUNC_cipher_decrypt_init_fn *dinit;
    OSSL_FUNC_cipher_update_fn *update;
    OSSL_FUNC_cipher_final_fn *final;                   /* AEAD: the tag */
    OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params; /* AEAD: read the tag */
    OSSL_FUNC_cipher_set_ctx_params_fn *set_ctx_params; /* AEAD: expected tag */
} direct_t;

static direct_t direct[5];
static int xts_direct_enabled = 1;
static int aead_direct_enabled = 1;

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

/* Look the cipher up in its provider's dispatch tables (GIL held: no lock needed); aead: the
 * tag functions are needed too. */
static void resolve_direct(direct_t *d, const EVP_CIPHER *cipher, const char *name, int aead)
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
            case OSSL_FUNC_CIPHER_FINAL: d->final = OSSL_FUNC_cipher_final(f); break;
            case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
                d->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(f);
                break;
            case OSSL_FUNC_CIPHER_SET_CTX_PARAMS:
                d->set_ctx_params = OSSL_FUNC_cipher_set_ctx_params(f);
                break;
            default: break;
            }
        }
        break;
    }
    if (algs != NULL)
        OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
    d->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    d->ok = d->provctx != NULL && d->newctx && d->freectx && d->einit && d->dinit && d->update &&
            (!aead || (d->final && d->get_ctx_params && d->set_ctx_params));
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
        /* the fetched cipher keeps its provider loaded */
        resolve_direct(&direct[slot], cached[slot], name, alg != ALG_XTS);
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

/* ------------------------------------------------------------------ Intel IPP Crypto (dlopen)
 *
 * The second backend: Intel Cryptography Primitives Library (IPP Crypto, PyPI `ipp-crypto`,
 * libippcp.so), loaded at run time so that the extension builds and runs without it.  Only the
 * few functions below are used; their prototypes are those of ippcp.h (2021.x - 2026.x),
 * declared here so that no IPP header is needed at build time.  The contexts are opaque: their
 * sizes come from the library's own GetSize functions.
 * API reference: https://intel.github.io/cryptography-primitives/aes_xtsencrypt.html and the
 * neighbouring pages (AES_XTSInit, AES_GCMInit, AES_GCMStart, AES_GCMGetTag, GetLibVersion).
 */

typedef int IppStatus; /* ippStsNoErr == 0; < 0 errors, > 0 warnings */
typedef IppStatus (*ipp_xts_fn)(const uint8_t *, uint8_t *, int, const void *, const uint8_t *,
                                int);
typedef IppStatus (*ipp_gcm_fn)(const uint8_t *, uint8_t *, int, void *);

typedef struct {          /* IppLibraryVersion of ippcpdefs.h */
    int major, minor, majorBuild;
    unsigned int revision;
    char targetCpu[4];
    const char *Name, *Version, *BuildDate;
} ipp_version_t;

typedef struct {
    int loaded;
    void *handle;
    IppStatus (*init)(void);
    const ipp_version_t *(*get_lib_version)(void);
    IppStatus (*get_cpu_features)(uint64_t *);
    uint64_t (*get_enabled_cpu_features)(void);
    IppStatus (*xts_get_size)(int *);
    IppStatus (*xts_init)(const uint8_t *, int, int, void *, int);
    ipp_xts_fn xts_encrypt, xts_decrypt;
    IppStatus (*gcm_get_size)(int *);
    IppStatus (*gcm_init)(const uint8_t *, int, void *, int);
    IppStatus (*gcm_start)(const uint8_t *, int, const uint8_t *, int, void *);
    ipp_gcm_fn gcm_encrypt, gcm_decrypt;
    IppStatus (*gcm_get_tag)(uint8_t *, int, const void *);
    int xts_size, gcm_size;
    PyObject *path; /* the file loaded, as given (bytes, file system encoding): one a process */
} ipp_t;

static ipp_t ipp;

#define IPP_ALIGN 64

/* Context memory, aligned for the vector code; freed with free(). */
static void *ipp_ctx_alloc(int size)
{
    size_t n = ((size_t)size + IPP_ALIGN - 1) / IPP_ALIGN * IPP_ALIGN;
    void *p = aligned_alloc(IPP_ALIGN, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

static void ipp_ctx_free(void *p, int size)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, (size_t)size); /* expanded keys */
        free(p);
    }
}

static int ipp_ctx_size(int alg)
{
    return alg == ALG_XTS ? ipp.xts_size : ipp.gcm_size;
}

/* A keyed IPP context (XTS: data units of `unit` bytes), or NULL with the failing status in
 * *st (-9: out of memory).  Freed with ipp_ctx_free(ctx, ipp_ctx_size(alg)). */
static void *ipp_ctx_new(int alg, const unsigned char *key, int keylen, size_t unit,
                         IppStatus *st)
{
    int size = ipp_ctx_size(alg);
    void *ctx = ipp_ctx_alloc(size);
    if (ctx == NULL) {
        *st = -9;
        return NULL;
    }
    *st = alg == ALG_XTS ? ipp.xts_init(key, keylen * 8, (int)unit * 8, ctx, size)
                         : ipp.gcm_init(key, keylen, ctx, size);
    if (*st != 0) {
        ipp_ctx_free(ctx, size);
        return NULL;
    }
    return ctx;
}

/* One GCM message on a keyed context: Start (IV, AAD), Encrypt or Decrypt, GetTag into tag.
 * Returns 0, or the failing status with the call's name in *where. */
static inline IppStatus ipp_gcm_message(void *ctx, int enc, const unsigned char *iv, int ivlen,
                                        const unsigned char *aad, int aadlen,
                                        const unsigned char *src, unsigned char *dst, int len,
                                        unsigned char *tag, const char **where)
{
    IppStatus s;
    if ((s = ipp.gcm_start(iv, ivlen, aad, aadlen, ctx)) != 0) {
        *where = "ippsAES_GCMStart";
        return s;
    }
    if (len > 0 && (s = (enc ? ipp.gcm_encrypt : ipp.gcm_decrypt)(src, dst, len, ctx)) != 0) {
        *where = enc ? "ippsAES_GCMEncrypt" : "ippsAES_GCMDecrypt";
        return s;
    }
    if ((s = ipp.gcm_get_tag(tag, TAG_LEN, ctx)) != 0)
        *where = "ippsAES_GCMGetTag";
    return s;
}

PyDoc_STRVAR(ipp_load_doc,
"ipp_load(path) -> dict\n"
"--\n\n"
"dlopen the IPP Crypto library at path, resolve the AES-XTS/GCM functions and dispatch to\n"
"the best code path for this CPU (ippcpInit).  Returns name, version, target_cpu (the\n"
"dispatched code path, e.g. 'k1'), build_date, cpu_features, enabled_features.  Raises\n"
"OSError when the library or a symbol is missing.");

static PyObject *ipp_load_path(const char *path);

static PyObject *ipp_loaded(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(ipp.loaded);
}

/* the path as the file system spells it (str or bytes: a name need not be UTF-8) */
static PyObject *ipp_load(PyObject *self, PyObject *arg)
{
    PyObject *fs = NULL;
    if (!PyUnicode_FSConverter(arg, &fs))
        return NULL;
    PyObject *r = ipp_load_path(PyBytes_AS_STRING(fs));
    if (r != NULL && ipp.path == NULL)
        ipp.path = Py_NewRef(fs); /* the first load's: later calls get that library */
    Py_DECREF(fs);
    if (r != NULL && PyDict_SetItemString(r, "path", ipp.path) < 0)
        Py_CLEAR(r);
    return r;
}

static PyObject *ipp_load_path(const char *path)
{
    if (!ipp.loaded) {
        ipp_t t;
        memset(&t, 0, sizeof t);
        t.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (t.handle == NULL) {
            const char *why = dlerror();
            PyErr_Format(PyExc_OSError, "cannot load %s: %s", path, why ? why : "dlopen failed");
            return NULL;
        }
        struct { const char *name; void **slot; } syms[] = {
            {"ippcpInit", (void **)&t.init},
            {"ippcpGetLibVersion", (void **)&t.get_lib_version},
            {"ippcpGetCpuFeatures", (void **)&t.get_cpu_features},
            {"ippcpGetEnabledCpuFeatures", (void **)&t.get_enabled_cpu_features},
            {"ippsAES_XTSGetSize", (void **)&t.xts_get_size},
            {"ippsAES_XTSInit", (void **)&t.xts_init},
            {"ippsAES_XTSEncrypt", (void **)&t.xts_encrypt},
            {"ippsAES_XTSDecrypt", (void **)&t.xts_decrypt},
            {"ippsAES_GCMGetSize", (void **)&t.gcm_get_size},
            {"ippsAES_GCMInit", (void **)&t.gcm_init},
            {"ippsAES_GCMStart", (void **)&t.gcm_start},
            {"ippsAES_GCMEncrypt", (void **)&t.gcm_encrypt},
            {"ippsAES_GCMDecrypt", (void **)&t.gcm_decrypt},
            {"ippsAES_GCMGetTag", (void **)&t.gcm_get_tag},
        };
        for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
            *syms[i].slot = dlsym(t.handle, syms[i].name);
            if (*syms[i].slot == NULL) {
                PyErr_Format(PyExc_OSError, "%s has no symbol %s", path, syms[i].name);
                dlclose(t.handle);
                return NULL;
            }
        }
        IppStatus st = t.init();
        if (st < 0) {
            PyErr_Format(PyExc_OSError, "ippcpInit failed with status %d", st);
            dlclose(t.handle);
            return NULL;
        }
        if (t.xts_get_size(&t.xts_size) != 0 || t.gcm_get_size(&t.gcm_size) != 0 ||
            t.xts_size <= 0 || t.gcm_size <= 0) {
            PyErr_SetString(PyExc_OSError, "IPP context sizes unavailable");
            dlclose(t.handle);
            return NULL;
        }
        t.loaded = 1;
        ipp = t;
    }
    const ipp_version_t *v = ipp.get_lib_version();
    uint64_t features = 0;
    ipp.get_cpu_features(&features);
    char cpu[5] = {0};
    memcpy(cpu, v->targetCpu, 4);
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:K,s:K,s:i,s:i}",
                         "name", v->Name ? v->Name : "", "version", v->Version ? v->Version : "",
                         "target_cpu", cpu, "build_date", v->BuildDate ? v->BuildDate : "",
                         "cpu_features", (unsigned long long)features,
                         "enabled_features", (unsigned long long)ipp.get_enabled_cpu_features(),
                         "xts_context_bytes", ipp.xts_size, "gcm_context_bytes", ipp.gcm_size);
}

/* ------------------------------------------------------------------ bound ciphers and jobs
 *
 * A Bound is one key bound to one cipher, backend, data-unit size and thread count: the key
 * schedule (OpenSSL contexts, IPP contexts) is built once and reused by every call, so that a
 * call pays only for checking its buffers and for the cipher itself.  Contexts are mutable, so
 * each call takes a private set of them (one per worker) from a free list and gives it back:
 * concurrent callers of one Bound never share a context.
 */

enum { BK_OPENSSL = 0, BK_IPP = 1 };

/* A batch is split across workers only where it pays: below this many bytes per worker the
 * hand-off costs more than it saves (set_split_bytes() changes it, for benchmarks). */
static size_t split_bytes = 128 * 1024;

typedef struct ctxset {
    struct ctxset *next;
    void *enc[MAX_THREADS]; /* per worker: OpenSSL ctx keyed to encrypt, IPP GCM state */
    void *dec[MAX_THREADS]; /* per worker: OpenSSL ctx keyed to decrypt */
} ctxset_t;

typedef struct {
    PyObject_HEAD
    int backend;
    int alg;
    int keylen;
    int threads;
    size_t unit;
    unsigned char key[MAX_KEY];
    const EVP_CIPHER *cipher;   /* OpenSSL */
    const direct_t *direct;     /* OpenSSL provider fast path, or NULL: EVP */
    void *xts_spec;             /* IPP XTS: read-only after init, shared by all workers */
    pthread_mutex_t mu;
    ctxset_t *free_sets;
    PyObject *integrity_error;  /* class: IntegrityError(sector, count) */
    PyObject *backend_error;    /* class: BackendError(message) */
} Bound;

typedef struct {
    Bound *b;
    ctxset_t *set;
    int slot;
    int enc;
    const unsigned char *src;
    unsigned char *dst;
    unsigned char *meta; /* NULL for non-AEAD */
    uint64_t first_sector;
    const uint64_t *sectors; /* per-unit sector numbers (gathered batch), or NULL: first + i */
    const unsigned char *const *srcs; /* per-unit source and destination (scattered batch), */
    unsigned char *const *dsts;       /* or NULL: src/dst + i * unit */
    unsigned char **finals;           /* or NULL; see pf_ahead() */
    size_t base;                      /* index of the job's first unit in its batch */
    size_t count;
    /* results */
    int ok;                 /* 0: a library call failed (err/where say which) */
    unsigned long err;
    int status;             /* IPP status of the failing call */
    const char *where;
    long long first_bad;    /* AEAD decrypt: first failing index relative to the job, or -1 */
    long long n_bad;
} job_t;

/* The sector number (XTS tweak, AEAD AAD) of unit i of a job. */
#define SECTOR_OF(j, i) ((j)->sectors != NULL ? (j)->sectors[i] : (j)->first_sector + (i))
#define SRC_OF(j, i) ((j)->srcs != NULL ? (j)->srcs[i] : (j)->src + (i) * (j)->b->unit)
#define DST_OF(j, i) ((j)->dsts != NULL ? (j)->dsts[i] : (j)->dst + (i) * (j)->b->unit)

/* AEAD associated data of a sector: its number (64-bit little endian) || its nonce. */
static inline void set_aad(unsigned char *aad, uint64_t sector, const unsigned char *nonce)
{
    put_le64(aad, sector);
    memcpy(aad + 8, nonce, NONCE_LEN);
}

/* A unit whose tag failed: never hand out unauthenticated plaintext; count it. */
static void reject_unit(job_t *j, size_t i, unsigned char *out)
{
    OPENSSL_cleanse(out, j->b->unit);
    if (j->first_bad < 0)
        j->first_bad = (long long)i;
    j->n_bad++;
}

/* Prefetches that the compiler must keep.  GCC 12 at -O3 deleted some __builtin_prefetch calls
 * as code without effect (seen in the object code: the per-unit prefetch scattered batches
 * had, prefetch_next(), was no instruction at all, nor were prefetches put in the request
 * parsing loop).  On x86-64 they are
 * therefore volatile asm: pf_keep() into every cache level (also ahead of a store: a line
 * read in is held exclusive when no other core has it, so the store does not wait),
 * pf_stream() for data used once. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define pf_keep(p) __asm__ __volatile__("prefetcht0 %0" : : "m"(*(const char *)(p)))
#define pf_stream(p) __asm__ __volatile__("prefetchnta %0" : : "m"(*(const char *)(p)))
#else
#define pf_keep(p) __builtin_prefetch((p), 0, 3)
#define pf_stream(p) __builtin_prefetch((p), 0, 0)
#endif

/* Copies n bytes (a multiple of 64, dst 16-byte aligned) with non-temporal stores; the caller
 * fences (vm_stream_fence) before anything that must be seen after them.  Where the CPU has
 * AVX-512 (or AVX2) and dst is 64-byte (32-byte) aligned, a line takes one (two) full-width
 * streaming stores instead of four 16-byte ones: each line's write-combining buffer fills at
 * once and goes out whole (64 scattered 4 KiB pieces of a 4 GiB store, IPP XTS, Zen 5, in a C
 * loop: 14.0 -> 15.0 GB/s; tests/benchmarks/vectored_io.py measures it in the volume). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VM_WIDE_STREAM 1
__attribute__((target("avx512f"))) static void vm_stream512(unsigned char *dst,
                                                           const unsigned char *src, size_t n)
{
    for (size_t o = 0; o < n; o += 64)
        _mm512_stream_si512((void *)(dst + o), _mm512_loadu_si512((const void *)(src + o)));
}

__attribute__((target("avx2"))) static void vm_stream256(unsigned char *dst,
                                                        const unsigned char *src, size_t n)
{
    for (size_t o = 0; o < n; o += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + o));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + o + 32));
        _mm256_stream_si256((__m256i *)(dst + o), a);
        _mm256_stream_si256((__m256i *)(dst + o + 32), b);
    }
}

/* 2: AVX-512, 1: AVX2, 0: SSE2 only (the widest the CPU and OS have, set at module load;
 * set_stream_width() lowers it to compare) */
static int vm_stream_width;

static int vm_stream_best(void)
{
    __builtin_cpu_init(); /* libgcc's check includes the OS's XSAVE state (XCR0) */
    return __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
}
#endif

static void vm_stream(unsigned char *dst, const unsigned char *src, size_t n)
{
#if defined(VM_WIDE_STREAM)
    if (n % 64 == 0) {
        if (vm_stream_width == 2 && ((uintptr_t)dst & 63) == 0) {
            vm_stream512(dst, src, n);
            return;
        }
        if (vm_stream_width >= 1 && ((uintptr_t)dst & 31) == 0) {
            vm_stream256(dst, src, n);
            return;
        }
    }
#endif
#if defined(__SSE2__)
    if (((uintptr_t)dst & 15) == 0 && n % 64 == 0) {
        for (size_t o = 0; o < n; o += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + o));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + o + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + o + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + o + 48));
            _mm_stream_si128((__m128i *)(dst + o), a);
            _mm_stream_si128((__m128i *)(dst + o + 16), b);
            _mm_stream_si128((__m128i *)(dst + o + 32), c);
            _mm_stream_si128((__m128i *)(dst + o + 48), d);
        }
        return;
    }
#endif
    memcpy(dst, src, n);
}

static void vm_stream_fence(void)
{
#if defined(__SSE2__)
    _mm_sfence(); /* streaming stores are weakly ordered: visible before the flags and the lock */
#endif
}

/* Called in every scattered loop before unit i.  With `finals` (VolumeMap's writev through a
 * bounce buffer), unit i - 1, just finished and still in the L1 cache, is streamed to its place
 * in the store and its entry cleared, so the streaming overlaps the cipher's work instead of
 * following it; the caller streams whatever entries are left (each job's last unit, or every
 * unit of a loop that does not call this).
 * Scattered decryption (EncryptedVolume's vectored and single reads: the sources are pages of
 * the store, seldom in the cache once the volume outgrows it): while unit i runs, the unit
 * about 4 KiB on is fetched whole.  The hardware prefetchers do not follow a stream across
 * pages, and a unit's lines missed one after another; fetched a unit ahead, they arrive
 * while the cipher works (64 scattered 4 KiB pieces of a 4 GiB volume, IPP XTS on Zen 5:
 * 4.7 -> 6.6 GB/s).  Not for encryption: there the sources are the caller's (hot) and the
 * extra loads held up the stores' own misses (a cold contiguous 256 KiB write lost 15 %). */
static inline void pf_ahead(const job_t *j, size_t i)
{
    const size_t unit = j->b->unit;
    if (j->finals != NULL && i > 0 && j->finals[i - 1] != NULL) {
        vm_stream(j->finals[i - 1], j->dsts[i - 1], unit);
        j->finals[i - 1] = NULL;
    }
    if (j->srcs == NULL || j->enc)
        return;
    size_t n = i + (unit >= 4096 ? 1 : 4096 / unit);
    if (n >= j->count)
        return;
    const unsigned char *src = j->srcs[n];
    for (size_t off = 0; off < unit; off += 64)
        pf_keep(src + off);
}

/* The 16-byte XTS tweak of a sector: its number as 64-bit little endian, zero padded.  On
 * x86-64 one 16-byte store: the library loads the tweak as 16 bytes, and a load that spans
 * two smaller in-flight stores cannot be forwarded from them (a stall of a dozen cycles per
 * sector, measurable at 512-byte sectors). */
static inline void set_tweak(unsigned char *iv, uint64_t sector)
{
#if defined(__SSE2__)
    _mm_storeu_si128((__m128i *)iv, _mm_set_epi64x(0, (long long)sector));
#else
    memset(iv, 0, 16);
    put_le64(iv, sector);
#endif
}

static void ctx_free(const Bound *b, void *ctx, int is_enc_slot)
{
    if (ctx == NULL)
        return;
    if (b->backend == BK_IPP)
        ipp_ctx_free(ctx, ipp.gcm_size);
    else if (b->direct != NULL)
        b->direct->freectx(ctx);
    else
        EVP_CIPHER_CTX_free(ctx);
    (void)is_enc_slot;
}

/* The keyed context of a worker slot for one direction, created on first use.  NULL when
 * none is needed (IPP XTS shares b->xts_spec) or on failure (j->ok cleared). */
static void *ctx_get(job_t *j)
{
    const Bound *b = j->b;
    if (b->backend == BK_IPP) {
        if (b->alg == ALG_XTS)
            return b->xts_spec;
        void **slot = &j->set->enc[j->slot];
        if (*slot == NULL) {
            IppStatus s;
            if ((*slot = ipp_ctx_new(ALG_GCM, b->key, b->keylen, 0, &s)) == NULL) {
                j->ok = 0; j->status = s; j->where = "ippsAES_GCMInit";
                return NULL;
            }
        }
        return *slot;
    }
    void **slot = j->enc ? &j->set->enc[j->slot] : &j->set->dec[j->slot];
    if (*slot != NULL)
        return *slot;
    if (b->direct != NULL) {
        const direct_t *d = b->direct;
        void *actx = d->newctx(d->provctx);
        int ok = actx != NULL &&
                 (j->enc ? d->einit(actx, b->key, (size_t)b->keylen, NULL, 0, NULL)
                         : d->dinit(actx, b->key, (size_t)b->keylen, NULL, 0, NULL)) == 1;
        if (!ok) {
            if (actx != NULL)
                d->freectx(actx);
            j->ok = 0; j->err = ERR_peek_last_error(); j->where = "provider key setup";
            ERR_clear_error();
            return NULL;
        }
        return *slot = actx;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_CipherInit_ex(ctx, b->cipher, NULL, b->key, NULL, j->enc) != 1) {
        j->ok = 0; j->err = ERR_peek_last_error(); j->where = "EVP_CipherInit_ex(key)";
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    return *slot = ctx;
}

#define FAIL(msg)                                                                             \
    do {                                                                                      \
        j->ok = 0;                                                                            \
        j->err = ERR_peek_last_error();                                                       \
        j->where = (msg);                                                                     \
        goto done;                                                                            \
    } while (0)

#define IPP_FAIL(msg, st)                                                                     \
    do {                                                                                      \
        j->ok = 0;                                                                            \
        j->status = (st);                                                                     \
        j->where = (msg);                                                                     \
        return;                                                                               \
    } while (0)

static void run_ipp(job_t *j, void *ctx)
{
    const Bound *b = j->b;
    const size_t unit = b->unit;
    const int len = (int)unit;
    unsigned char tag[TAG_LEN];
    IppStatus s;
    if (b->alg == ALG_XTS) {
        /* the library function and the direction chosen once, not per sector */
        const ipp_xts_fn xts = j->enc ? ipp.xts_encrypt : ipp.xts_decrypt;
        const char *what = j->enc ? "ippsAES_XTSEncrypt" : "ippsAES_XTSDecrypt";
        const int bits = len * 8;
        /* Each sector's tweak is written one sector ahead, into the other of two buffers:
         * the library reads the tweak right at the start of the call, and a load just
         * after the store that wrote it waits for that store (at 512-byte sectors that cost
         * 15 % against the same loop with a fixed tweak). */
        unsigned char tweak[2][16];
        set_tweak(tweak[0], SECTOR_OF(j, 0));
        if (j->srcs == NULL && j->sectors == NULL) { /* one contiguous run: the hot loop */
            const unsigned char *src = j->src;
            unsigned char *dst = j->dst;
            uint64_t sec = j->first_sector;
            for (size_t i = 0; i < j->count; i++, sec++, src += unit, dst += unit) {
                set_tweak(tweak[(i + 1) & 1], sec + 1);
                if ((s = xts(src, dst, bits, ctx, tweak[i & 1], 0)) != 0)
                    IPP_FAIL(what, s);
            }
            return;
        }
        for (size_t i = 0; i < j->count; i++) {
            if (i + 1 < j->count)
                set_tweak(tweak[(i + 1) & 1], SECTOR_OF(j, i + 1));
            pf_ahead(j, i);
            if ((s = xts(SRC_OF(j, i), DST_OF(j, i), bits, ctx, tweak[i & 1], 0)) != 0)
                IPP_FAIL(what, s);
        }
        return;
    }
    const char *where = "";
    unsigned char aad[2][AAD_LEN]; /* written one sector ahead, as the XTS tweak above */
    set_aad(aad[0], SECTOR_OF(j, 0), j->meta);
    for (size_t i = 0; i < j->count; i++) {
        unsigned char *m = j->meta + i * META_LEN;
        unsigned char *out = DST_OF(j, i);
        if (i + 1 < j->count)
            set_aad(aad[(i + 1) & 1], SECTOR_OF(j, i + 1), m + META_LEN);
        pf_ahead(j, i);
        if ((s = ipp_gcm_message(ctx, j->enc, m, NONCE_LEN, aad[i & 1], AAD_LEN, SRC_OF(j, i),
                                 out, len, j->enc ? m + NONCE_LEN : tag, &where)) != 0)
            IPP_FAIL(where, s);
        if (!j->enc && CRYPTO_memcmp(tag, m + NONCE_LEN, TAG_LEN) != 0)
            reject_unit(j, i, out);
    }
}

static void run_job(job_t *j)
{
    const Bound *b = j->b;
    const size_t unit = b->unit;
    int outl = 0, outl2 = 0;
    unsigned char iv[16];
    unsigned char aad[AAD_LEN];

    j->ok = 1;
    j->first_bad = -1;
    j->n_bad = 0;
    if (j->count == 0)
        return;
    if (b->alg == ALG_NULL) {
        if (j->dsts != NULL) {
            for (size_t i = 0; i < j->count; i++)
                memmove(j->dsts[i], j->srcs[i], unit);
        } else if (j->dst != j->src) {
            memmove(j->dst, j->src, j->count * unit);
        }
        return;
    }
    void *ctx = ctx_get(j);
    if (!j->ok)
        return;
    if (j->dsts != NULL) { /* scattered: start every unit's page walk and first line now */
        for (size_t i = 0; i < j->count; i++) {
            pf_keep(j->dsts[i]);
            pf_stream(j->srcs[i]);
        }
    }
    if (b->backend == BK_IPP) {
        run_ipp(j, ctx);
        return;
    }
    if (b->alg == ALG_XTS && b->direct != NULL) {
        const direct_t *d = b->direct;
        OSSL_FUNC_cipher_encrypt_init_fn *reinit = j->enc ? d->einit : d->dinit;
        size_t outn = 0;
        memset(iv, 0, sizeof iv);
        for (size_t i = 0; i < j->count; i++) {
            set_tweak(iv, SECTOR_OF(j, i));
            pf_ahead(j, i);
            if (reinit(ctx, NULL, 0, iv, sizeof iv, NULL) != 1 ||
                d->update(ctx, DST_OF(j, i), &outn, unit, SRC_OF(j, i), unit) != 1)
                FAIL("XTS sector");
        }
        goto done;
    }
    if (b->alg == ALG_XTS) {
        memset(iv, 0, sizeof iv);
        for (size_t i = 0; i < j->count; i++) {
            set_tweak(iv, SECTOR_OF(j, i));
            pf_ahead(j, i);
            if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1)
                FAIL("EVP_CipherInit_ex(iv)");
            if (EVP_CipherUpdate(ctx, DST_OF(j, i), &outl, SRC_OF(j, i), (int)unit) != 1)
                FAIL("EVP_CipherUpdate");
        }
        goto done;
    }
    if (b->direct != NULL) { /* AEAD through the provider's functions: EVP's calls, minus EVP */
        const direct_t *d = b->direct;
        OSSL_FUNC_cipher_encrypt_init_fn *reinit = j->enc ? d->einit : d->dinit;
        OSSL_PARAM tagp[2] = {
            OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, TAG_LEN), OSSL_PARAM_END};
        size_t outn = 0, outn2 = 0;
        for (size_t i = 0; i < j->count; i++) {
            unsigned char *m = j->meta + i * META_LEN;
            unsigned char *out = DST_OF(j, i);
            set_aad(aad, SECTOR_OF(j, i), m);
            pf_ahead(j, i);
            tagp[0].data = m + NONCE_LEN;
            tagp[0].data_size = TAG_LEN;
            if (reinit(ctx, NULL, 0, m, NONCE_LEN, NULL) != 1)
                FAIL("AEAD nonce");
            if (!j->enc && d->set_ctx_params(ctx, tagp) != 1)
                FAIL("AEAD set tag");
            if (d->update(ctx, NULL, &outn, AAD_LEN, aad, AAD_LEN) != 1)
                FAIL("AEAD AAD");
            if (d->update(ctx, out, &outn, unit, SRC_OF(j, i), unit) != 1 || outn != unit)
                FAIL("AEAD sector");
            if (d->final(ctx, out + outn, &outn2, 0) != 1) {
                if (j->enc)
                    FAIL("AEAD final");
                reject_unit(j, i, out);
                continue;
            }
            if (j->enc && d->get_ctx_params(ctx, tagp) != 1)
                FAIL("AEAD get tag");
        }
        goto done;
    }
    for (size_t i = 0; i < j->count; i++) {
        unsigned char *m = j->meta + i * META_LEN;
        unsigned char *out = DST_OF(j, i);
        set_aad(aad, SECTOR_OF(j, i), m);
        pf_ahead(j, i);
        if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, m, -1) != 1)
            FAIL("EVP_CipherInit_ex(nonce)");
        if (!j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, m + NONCE_LEN) != 1)
            FAIL("EVP_CTRL_AEAD_SET_TAG");
        if (EVP_CipherUpdate(ctx, NULL, &outl, aad, AAD_LEN) != 1)
            FAIL("EVP_CipherUpdate(aad)");
        if (EVP_CipherUpdate(ctx, out, &outl, SRC_OF(j, i), (int)unit) != 1)
            FAIL("EVP_CipherUpdate");
        if (EVP_CipherFinal_ex(ctx, out + outl, &outl2) != 1) {
            if (j->enc)
                FAIL("EVP_CipherFinal_ex");
            reject_unit(j, i, out);
            continue;
        }
        if (j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, m + NONCE_LEN) != 1)
            FAIL("EVP_CTRL_AEAD_GET_TAG");
    }
done:
    ERR_clear_error(); /* the error queue is per thread; results travel in the job */
}

/* ------------------------------------------------------------------ worker pool
 *
 * Spawning pthreads per 1 MiB batch costs tens of microseconds (a third of the batch), so
 * workers persist: each has a slot for a runner; after one it spins briefly for the next
 * (batches arrive back to back) and then sleeps on its condition variable.  A batch is cut
 * into pieces, and the pieces into one contiguous lane per runner (the caller and each
 * worker): a runner takes the pieces of its own lane first, so each core streams its own half
 * of the buffers and keeps it in its own cache across back-to-back batches (pieces dealt
 * from one shared counter moved every cache line between the cores' caches each batch), and
 * then takes what is left in the other lanes.  So a worker that is slow to wake (or not
 * scheduled: other processes on the cores) costs nothing but its share: the caller takes
 * its pieces and withdraws the runner the worker never picked up.  Each lane's counter has
 * a cache line of its own.  One caller at a time owns the pool; a concurrent caller that finds it busy runs
 * its batch alone (the callers are the parallelism then).
 */

typedef struct {
    _Alignas(64) atomic_size_t next; /* the next piece of this lane to take */
    size_t end;                      /* one past its last piece */
} lane_t;

typedef struct {
    job_t *pieces;
    size_t npieces;
    size_t bytes;                    /* of the whole batch */
    int planned;                     /* lanes the pieces were cut for (0: cut evenly) */
    const size_t *plan;              /* their first pieces, planned + 1 entries */
    int nlanes;
    lane_t lanes[MAX_THREADS];
} share_t;

typedef struct {
    share_t *share;
    int slot; /* the context slot of whoever runs this runner, and its own lane */
} runner_t;

/* Cuts a share's pieces into n contiguous lanes: as planned when they were cut for n lanes,
 * else evenly by count (a worker missing: its lane is taken over anyway). */
static void share_lanes(share_t *s, int n)
{
    s->nlanes = n;
    for (int t = 0; t < n; t++) {
        int planned = n == s->planned;
        atomic_init(&s->lanes[t].next,
                    planned ? s->plan[t] : s->npieces * (size_t)t / (size_t)n);
        s->lanes[t].end = planned ? s->plan[t + 1] : s->npieces * (size_t)(t + 1) / (size_t)n;
    }
}

static void run_runner(runner_t *r)
{
    share_t *s = r->share;
    for (int k = 0; k < s->nlanes; k++) { /* its own lane, then the others' leftovers */
        lane_t *lane = &s->lanes[(r->slot + k) % s->nlanes];
        for (;;) {
            size_t i = atomic_fetch_add(&lane->next, 1);
            if (i >= lane->end)
                break;
            s->pieces[i].slot = r->slot;
            run_job(&s->pieces[i]);
        }
    }
}

#define SPIN_NS 100000.0 /* how long an idle worker or a waiting caller spins before sleeping */

typedef struct {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    runner_t *_Atomic job; /* pending runner, taken by the worker (or withdrawn) */
    atomic_int done;        /* set when the runner is finished (or withdrawn) */
    atomic_int asleep;      /* waiting on cv: a runner handed over costs a wake-up */
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

#define PURE_SPIN_NS 20000.0 /* of which a worker first spins on pause instructions alone */

/* The worker's spin: for its first PURE_SPIN_NS pause instructions alone, the clock read
 * every 64 of them (the next of back-to-back batches comes within a few microseconds, and a
 * sched_yield() on a busy machine can hand the core to another process for a whole time
 * slice; on a loaded machine the gain was within its noise), then politely (spin_step) up
 * to SPIN_NS, then to sleep. */
static inline int worker_spin_step(int spins, double t0, int *polite)
{
    if (*polite)
        return spin_step(spins, t0);
    cpu_relax();
    if ((spins & 63) == 63 && (now_seconds() - t0) * 1e9 >= PURE_SPIN_NS)
        *polite = 1;
    return 1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (;;) {
        runner_t *j = atomic_exchange(&w->job, NULL);
        if (j == NULL) {
            double t0 = now_seconds();
            int polite = 0, spins = 0;
            for (int k = 0; j == NULL; k++) {
                if (atomic_load_explicit(&w->job, memory_order_relaxed) != NULL)
                    j = atomic_exchange(&w->job, NULL);
                if (j == NULL && !worker_spin_step(polite ? spins++ : k, t0, &polite))
                    break;
            }
            if (j == NULL) {
                /* One wait, then back to the spin: a wake-up says batches are coming, and
                 * the runner it was for may have been withdrawn already (this VM takes
                 * 10-35 us to wake a sleeping thread, against about 45 us for a 1 MiB
                 * two-thread batch), so going straight back to sleep would make the next
                 * batch pay a wake-up again.  Bounded: each wake-up buys one spin. */
                pthread_mutex_lock(&w->mu);
                if ((j = atomic_exchange(&w->job, NULL)) == NULL) {
                    atomic_store_explicit(&w->asleep, 1, memory_order_relaxed);
                    pthread_cond_wait(&w->cv, &w->mu);
                    atomic_store_explicit(&w->asleep, 0, memory_order_relaxed);
                }
                pthread_mutex_unlock(&w->mu);
                if (j == NULL)
                    continue;
            }
        }
        run_runner(j);
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
        atomic_init(&w->asleep, 0);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        pthread_detach(w->tid);
        pool[pool_size++] = w;
    }
    return pool_size;
}

static void pool_submit(worker_t *w, runner_t *j)
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
static atomic_uint fork_generation;

static void pool_atfork_child(void)
{
    atomic_fetch_add(&fork_generation, 1); /* no nonce pool survives into a child */
    pool_size = 0;
    pthread_mutex_init(&pool_mu, NULL);
}

/* Withdraws a runner the worker has not taken yet; returns 1 if it was withdrawn. */
static int pool_withdraw(worker_t *w)
{
    if (atomic_exchange(&w->job, NULL) == NULL)
        return 0;
    atomic_store(&w->done, 1);
    return 1;
}

/* Runs all the pieces of a share on the calling thread, as one job: they are consecutive
 * units of one batch, and no other runner can take any (a 1 MiB IPP XTS batch cut for two
 * lanes and run piece by piece on one thread took 1.2-1.4 us more than uncut: each piece
 * restarts the loop).  Results land in piece 0, the others report success. */
static void run_alone(share_t *s)
{
    job_t *j = &s->pieces[0];
    for (size_t i = 1; i < s->npieces; i++) {
        j->count += s->pieces[i].count;
        s->pieces[i].ok = 1;
        s->pieces[i].first_bad = -1;
        s->pieces[i].n_bad = 0;
    }
    j->slot = 0;
    run_job(j);
}

/* A sleeping worker takes this VM 10-35 us to wake, and the wake-up costs the caller a
 * system call: a batch hands work to one only when it is large enough to gain from a late
 * helper, or when batches come back to back (the previous one ended within a worker's spin,
 * so the worker woken now spins on into the next).  Isolated 256-512 KiB IPP batches (1 ms
 * apart) were 13-30 % slower on two threads than on one for that wake-up; at 1 MiB the late
 * helper still gains. */
#define WAKE_SPLITS 8 /* a batch of this many times split_bytes is worth a wake-up */
static _Atomic double pool_last_end; /* when the last split-eligible batch ended */

/* Runs every piece of a share with up to n runners: the caller and n - 1 pool workers.
 * Called with the GIL released. */
static void run_share(share_t *s, int n)
{
    runner_t runners[MAX_THREADS];
    runners[0].share = s;
    runners[0].slot = 0;
    if (n <= 1 || s->npieces <= 1 || pthread_mutex_trylock(&pool_mu) != 0) {
        run_alone(s);
        return;
    }
    int have = pool_grow(n - 1);
    int used = have < n - 1 ? have : n - 1;
    double t0 = now_seconds();
    if (s->bytes < WAKE_SPLITS * split_bytes &&
        (t0 - atomic_load_explicit(&pool_last_end, memory_order_relaxed)) * 1e9 >= SPIN_NS) {
        int awake = 0; /* the workers from pool[0] on that spin now: no wake-up to pay */
        while (awake < used && !atomic_load_explicit(&pool[awake]->asleep, memory_order_relaxed))
            awake++;
        used = awake;
    }
    if (used == 0) {
        pthread_mutex_unlock(&pool_mu);
        run_alone(s);
        atomic_store_explicit(&pool_last_end, now_seconds(), memory_order_relaxed);
        return;
    }
    share_lanes(s, used + 1);
    for (int t = 1; t <= used; t++) {
        runners[t].share = s;
        runners[t].slot = t;
        pool_submit(pool[t - 1], &runners[t]);
    }
    run_runner(&runners[0]);
    for (int t = 1; t <= used; t++)
        if (!pool_withdraw(pool[t - 1]))
            pool_wait(pool[t - 1]);
    atomic_store_explicit(&pool_last_end, now_seconds(), memory_order_relaxed);
    pthread_mutex_unlock(&pool_mu);
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

/* The provider fast path for a cipher get_cipher() has fetched, or NULL: the EVP loop. */
static const direct_t *direct_for(int alg, Py_ssize_t keylen)
{
    int slot;
    switch (alg) {
    case ALG_XTS: slot = keylen == 32 ? 0 : 1; break;
    case ALG_GCM: slot = keylen == 16 ? 2 : 3; break;
    case ALG_CHACHA: slot = 4; break;
    default: return NULL;
    }
    if (!(alg == ALG_XTS ? xts_direct_enabled : aead_direct_enabled) || !direct[slot].ok)
        return NULL;
    return &direct[slot];
}

/* ------------------------------------------------------------------ nonces
 *
 * RAND_bytes costs about a microsecond a call in OpenSSL 3.0 (locking, DRBG bookkeeping),
 * more than encrypting a 4 KiB sector with VAES.  Small batches therefore take their nonces
 * from a per-thread pool filled by one RAND_bytes call per 4 KiB (341 nonces); bytes handed
 * out are wiped from the pool.  A forked child must never reuse its parent's pool (the same
 * nonces under the same key): the atfork handler bumps a generation that empties every pool.
 */

#define NONCE_POOL 4096

static _Thread_local struct {
    unsigned char buf[NONCE_POOL];
    size_t pos;
    unsigned gen;
    int init;
} npool;

/* n random bytes into out; 0 when RAND_bytes fails.  Called with the GIL released. */
static int draw_random(unsigned char *out, size_t n)
{
    unsigned gen = atomic_load(&fork_generation);
    if (!npool.init || npool.gen != gen) {
        OPENSSL_cleanse(npool.buf, sizeof npool.buf);
        npool.pos = NONCE_POOL;
        npool.gen = gen;
        npool.init = 1;
    }
    if (n > NONCE_POOL / 4) { /* large batches: straight from the DRBG, in pieces */
        for (size_t done = 0; done < n;) {
            size_t piece = n - done < (1u << 30) ? n - done : (1u << 30);
            if (RAND_bytes(out + done, (int)piece) != 1)
                return 0;
            done += piece;
        }
        return 1;
    }
    if (NONCE_POOL - npool.pos < n) {
        if (RAND_bytes(npool.buf, NONCE_POOL) != 1)
            return 0;
        npool.pos = 0;
    }
    memcpy(out, npool.buf + npool.pos, n);
    OPENSSL_cleanse(npool.buf + npool.pos, n);
    npool.pos += n;
    return 1;
}

/* ------------------------------------------------------------------ Bound: the Python type */

static ctxset_t *set_take(Bound *b)
{
    pthread_mutex_lock(&b->mu);
    ctxset_t *s = b->free_sets;
    if (s != NULL)
        b->free_sets = s->next;
    pthread_mutex_unlock(&b->mu);
    if (s == NULL)
        s = calloc(1, sizeof *s);
    return s;
}

static void set_give(Bound *b, ctxset_t *s)
{
    pthread_mutex_lock(&b->mu);
    s->next = b->free_sets;
    b->free_sets = s;
    pthread_mutex_unlock(&b->mu);
}

static void Bound_dealloc(Bound *b)
{
    ctxset_t *s = b->free_sets;
    while (s != NULL) {
        ctxset_t *next = s->next;
        for (int t = 0; t < MAX_THREADS; t++) {
            ctx_free(b, s->enc[t], 1);
            if (b->backend == BK_OPENSSL)
                ctx_free(b, s->dec[t], 0);
        }
        free(s);
        s = next;
    }
    if (b->xts_spec != NULL)
        ipp_ctx_free(b->xts_spec, ipp.xts_size);
    OPENSSL_cleanse(b->key, sizeof b->key);
    pthread_mutex_destroy(&b->mu);
    Py_XDECREF(b->integrity_error);
    Py_XDECREF(b->backend_error);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static int key_len_ok(int alg, int keylen)
{
    switch (alg) {
    case ALG_NULL: return keylen == 0;
    case ALG_XTS: return keylen == 32 || keylen == 64;
    case ALG_GCM: return keylen == 16 || keylen == 32;
    case ALG_CHACHA: return keylen == 32;
    default: return 0;
    }
}

static PyObject *Bound_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"backend", "alg", "key", "unit", "threads", "integrity_error",
                             "backend_error", NULL};
    int backend, alg, threads;
    Py_ssize_t unit;
    Py_buffer kb = {0};
    PyObject *ierr, *berr;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiy*niOO:Bound", kwlist, &backend, &alg, &kb,
                                     &unit, &threads, &ierr, &berr))
        return NULL;
    Py_ssize_t keylen = kb.len;
    if (keylen > MAX_KEY || !key_len_ok(alg, (int)keylen)) {
        PyBuffer_Release(&kb);
        PyErr_Format(PyExc_ValueError, "algorithm %d does not take a %zd-byte key", alg, keylen);
        return NULL;
    }
    if (unit < 16 || unit > MAX_UNIT) {
        PyBuffer_Release(&kb);
        PyErr_Format(PyExc_ValueError, "data unit of %zd bytes is out of range 16..%d", unit,
                     MAX_UNIT);
        return NULL;
    }
    if (threads < 1 || threads > MAX_THREADS) {
        PyBuffer_Release(&kb);
        PyErr_Format(PyExc_ValueError, "threads must be in 1..%d", MAX_THREADS);
        return NULL;
    }
    if (backend != BK_OPENSSL && backend != BK_IPP) {
        PyBuffer_Release(&kb);
        PyErr_Format(PyExc_ValueError, "unknown backend %d", backend);
        return NULL;
    }
    if (backend == BK_IPP && alg != ALG_NULL) {
        if (!ipp.loaded) {
            PyBuffer_Release(&kb);
            PyErr_SetString(PyExc_RuntimeError, "the IPP Crypto library is not loaded");
            return NULL;
        }
        if (alg != ALG_XTS && alg != ALG_GCM) {
            PyBuffer_Release(&kb);
            PyErr_Format(PyExc_ValueError, "IPP backend has no algorithm %d", alg);
            return NULL;
        }
    }
    Bound *b = (Bound *)type->tp_alloc(type, 0);
    if (b == NULL) {
        PyBuffer_Release(&kb);
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    b->backend = backend;
    b->alg = alg;
    b->keylen = (int)keylen;
    b->threads = threads;
    b->unit = (size_t)unit;
    memcpy(b->key, kb.buf, (size_t)keylen);
    PyBuffer_Release(&kb);
    b->integrity_error = Py_NewRef(ierr);
    b->backend_error = Py_NewRef(berr);
    if (alg == ALG_NULL)
        return (PyObject *)b;
    if (backend == BK_OPENSSL) {
        if ((b->cipher = get_cipher(alg, keylen)) == NULL) {
            Py_DECREF(b);
            return NULL;
        }
        b->direct = direct_for(alg, keylen);
    } else if (alg == ALG_XTS) {
        if (unit * 8 > INT32_MAX) {
            Py_DECREF(b);
            PyErr_SetString(PyExc_ValueError, "data unit too large for IPP");
            return NULL;
        }
        IppStatus s;
        if ((b->xts_spec = ipp_ctx_new(ALG_XTS, b->key, b->keylen, (size_t)unit, &s)) == NULL) {
            Py_DECREF(b);
            PyErr_Format(PyExc_RuntimeError, "ippsAES_XTSInit failed with status %d", s);
            return NULL;
        }
    }
    return (PyObject *)b;
}

/* A buffer argument with a clear Python error: TypeError names what is wrong. */
static int get_buf(PyObject *obj, Py_buffer *view, int writable, const char *what)
{
    if (PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a bytes-like buffer, not str", what);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        /* why, in the portable engine's words (engines._byte_view): not a buffer at all, a
         * strided one, or a read-only one where the result goes */
        PyErr_Clear();
        Py_buffer probe;
        if (!PyObject_CheckBuffer(obj) || PyObject_GetBuffer(obj, &probe, PyBUF_FULL_RO) < 0) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be a bytes-like buffer, not %s", what,
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        int contiguous = PyBuffer_IsContiguous(&probe, 'C'), readonly = probe.readonly;
        PyBuffer_Release(&probe);
        if (!contiguous)
            PyErr_Format(PyExc_ValueError, "%s must be C-contiguous", what);
        else if (writable && readonly)
            PyErr_Format(PyExc_TypeError,
                         "%s must be writable (bytearray, memoryview, numpy array)", what);
        else
            PyErr_Format(PyExc_TypeError, "%s must be a %sC-contiguous bytes-like buffer, not %s",
                         what, writable ? "writable " : "", Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

/* A `sectors` buffer: 64-bit integers (engines._SECTOR_FORMATS: unsigned, signed ones with
 * no negative number, or raw bytes read as packed uint64), n of them, 8-byte aligned; else
 * the portable engine's exception and words.  0, or -1 with the exception set (released). */
static int get_sectors(PyObject *obj, Py_buffer *view, size_t n)
{
    if (PyUnicode_Check(obj) || !PyObject_CheckBuffer(obj))
        return get_buf(obj, view, 0, "sectors"); /* its TypeError */
    int formatted = 1;
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT) < 0) { /* an exporter without formats */
        PyErr_Clear();
        if (get_buf(obj, view, 0, "sectors") < 0)
            return -1;
        formatted = 0;
    }
    const char *f = formatted && view->format != NULL ? view->format : "B";
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static const char *const unsigned_f[] = {"Q", "<Q", "=Q", "@Q", "L", "N", "B"};
    static const char *const signed_f[] = {"q", "<q", "=q", "@q", "l", "n"};
#else /* "<" is the native order only on a little-endian host */
    static const char *const unsigned_f[] = {"Q", "=Q", "@Q", "L", "N", "B"};
    static const char *const signed_f[] = {"q", "=q", "@q", "l", "n"};
#endif
    int sign = -1;
    for (size_t i = 0; i < sizeof unsigned_f / sizeof *unsigned_f && sign < 0; i++)
        if (strcmp(f, unsigned_f[i]) == 0)
            sign = 0;
    for (size_t i = 0; i < sizeof signed_f / sizeof *signed_f && sign < 0; i++)
        if (strcmp(f, signed_f[i]) == 0)
            sign = 1;
    if (sign < 0 || (strcmp(f, "B") != 0 && view->itemsize != 8)) {
        PyErr_Format(PyExc_ValueError, "sectors must be 64-bit integers (a numpy uint64 or "
                     "int64 array, array('Q')), not format '%s'", f);
        PyBuffer_Release(view);
        return -1;
    }
    if ((size_t)view->len != n * sizeof(uint64_t) ||
        ((uintptr_t)view->buf) % _Alignof(uint64_t) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "sectors is %zd bytes, expected %zu aligned (one uint64 per sector)",
                     view->len, n * sizeof(uint64_t));
        PyBuffer_Release(view);
        return -1;
    }
    if (sign) {
        const int64_t *v = view->buf;
        int64_t low = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i] < low)
                low = v[i];
        if (low < 0) {
            PyErr_Format(PyExc_ValueError, "sectors holds a negative sector number (%lld)",
                         (long long)low);
            PyBuffer_Release(view);
            return -1;
        }
    }
    return 0;
}

static PyObject *bound_raise(Bound *b, PyObject *cls, const char *fmt, const char *where,
                             long code)
{
    PyObject *msg = PyUnicode_FromFormat(fmt, where, code);
    if (msg != NULL) {
        PyErr_SetObject(cls, msg);
        Py_DECREF(msg);
    }
    return NULL;
}

/* One batch of units for a Bound: contiguous (src, dst + i * unit) or scattered (srcs[i],
 * dsts[i]); AEAD metadata contiguous, one META_LEN slot per unit. */
typedef struct {
    int enc;
    size_t n;
    const unsigned char *src;
    unsigned char *dst;
    const unsigned char *const *srcs;
    unsigned char *const *dsts;
    unsigned char *meta;
    uint64_t first;
    const uint64_t *sectors;
    int nonces_given;
    unsigned char **finals; /* scattered: per unit where to stream it (or NULL), see pf_ahead() */
} batch_t;

/* A scattered batch whose units are one run (sources, destinations and sectors each
 * consecutive: a sequential read or write of a volume) becomes a contiguous one, so it takes
 * the cipher's contiguous loop: no per-unit table loads, and no prefetch of the next unit.
 * VolumeMap does this only while the store fits the caches (not vm->stream): there the
 * prefetch burst a unit ahead only waits on the fill buffers (Intel Xeon, IPP XTS, sequential
 * 1 MiB reads over a 4 MiB region: scattered 10.1, joined 12.8 GB/s, median of 16 alternated
 * pairs), while over a 64 MiB region the scattered loop was the faster (reads 9.9 against
 * 8.6, the prefetch hiding the page crossings; writes 11.5 against 10.3), and over 16 MiB on
 * Zen 5 no slower (GCM reads 14.2 against 9.6: volume.py's _STREAM_ABOVE). */
static void batch_join(batch_t *bt, size_t unit)
{
    const size_t n = bt->n;
    /* a batch streamed through a bounce buffer (finals) stays scattered: its units go out
     * one by one behind the cipher */
    if (n == 0 || bt->srcs == NULL || bt->dsts == NULL || bt->sectors == NULL ||
        bt->finals != NULL)
        return;
    const unsigned char *s0 = bt->srcs[0];
    unsigned char *d0 = bt->dsts[0];
    const uint64_t f = bt->sectors[0];
    for (size_t i = 1; i < n; i++)
        if (bt->srcs[i] != s0 + i * unit || bt->dsts[i] != d0 + i * unit ||
            bt->sectors[i] != f + i)
            return;
    bt->src = s0;
    bt->dst = d0;
    bt->first = f;
    bt->srcs = NULL;
    bt->dsts = NULL;
    bt->sectors = NULL;
    bt->finals = NULL;
}

/* Units of lane t of n units cut into `lanes` lanes. */
static inline size_t lane_units(size_t n, int lanes, int t)
{
    return n * (size_t)(t + 1) / (size_t)lanes - n * (size_t)t / (size_t)lanes;
}

/* The next piece of a lane with `left` (> 0) units to go: `piece` units, down to a quarter
 * of what is left near the end (at least one). */
static inline size_t guided_piece(size_t left, size_t piece)
{
    size_t q = left / 4;
    if (q >= piece)
        return piece;
    if (q > 0)
        return q;
    return left < piece ? 1 : piece;
}

/* Runs a checked batch with the GIL released (split across the pool where it pays), then
 * turns a failed library call into BackendError and failed tags into IntegrityError naming
 * the first bad sector.  Returns 0, or -1 with the exception set.  Called with the GIL. */
static int batch_run(Bound *b, const batch_t *bt)
{
    const size_t unit = b->unit;
    const size_t n = bt->n;
    const int aead = b->alg == ALG_GCM || b->alg == ALG_CHACHA;
    if (n == 0)
        return 0;
    int threads = b->threads;
    size_t by_size = n * unit / split_bytes;
    if ((size_t)threads > by_size)
        threads = by_size > 0 ? (int)by_size : 1;
    if ((size_t)threads > n)
        threads = (int)n;

    /* pieces: one per call on one thread; else one lane of units per thread, cut into pieces
     * small enough for the runners to balance (at most split_bytes and 32 KiB each, at most
     * about 4096 of them) and smaller towards the lane's end, so whoever finishes first takes
     * over small pieces and the two end together (equal pieces left up to one piece, 3 us at
     * 1 MiB, of imbalance) */
    size_t piece = n;
    size_t plan[MAX_THREADS + 1];
    size_t npieces = 1;
    if (threads > 1) {
        size_t want = (split_bytes < 32768 ? split_bytes : 32768) / unit;
        piece = want > 0 ? want : 1;
        if ((n + piece - 1) / piece > 4096)
            piece = (n + 4095) / 4096;
        npieces = 0;
        for (int t = 0; t < threads; t++) {
            plan[t] = npieces;
            for (size_t left = lane_units(n, threads, t); left > 0; npieces++)
                left -= guided_piece(left, piece);
        }
        plan[threads] = npieces;
    }
    job_t local_jobs[64];
    job_t *jobs = npieces <= 64 ? local_jobs : PyMem_RawMalloc(npieces * sizeof(job_t));
    if (jobs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rand_ok = 1;
    ctxset_t *set = NULL;
    Py_BEGIN_ALLOW_THREADS
    if (aead && bt->enc && !bt->nonces_given) {
        /* One RAND_bytes call per batch, then spread the nonces into the metadata slots. */
        unsigned char local[64 * NONCE_LEN];
        unsigned char *nonces = n <= 64 ? local : malloc(n * NONCE_LEN);
        rand_ok = nonces != NULL && draw_random(nonces, n * NONCE_LEN);
        if (rand_ok) {
            for (size_t i = 0; i < n; i++)
                memcpy(bt->meta + i * META_LEN, nonces + i * NONCE_LEN, NONCE_LEN);
        }
        if (nonces == local)
            OPENSSL_cleanse(local, n * NONCE_LEN);
        else
            free(nonces);
    }
    if (rand_ok && (set = set_take(b)) != NULL) {
        size_t start = 0, lane_end = 0;
        for (size_t t = 0, lane = 0; t < npieces; t++) {
            if (threads > 1 && start == lane_end)
                lane_end += lane_units(n, threads, (int)lane++);
            size_t cnt = threads > 1 ? guided_piece(lane_end - start, piece) : n;
            job_t *j = &jobs[t];
            j->b = b;
            j->set = set;
            j->slot = 0;
            j->enc = bt->enc;
            j->src = bt->src != NULL ? bt->src + start * unit : NULL;
            j->dst = bt->dst != NULL ? bt->dst + start * unit : NULL;
            j->srcs = bt->srcs != NULL ? bt->srcs + start : NULL;
            j->dsts = bt->dsts != NULL ? bt->dsts + start : NULL;
            j->meta = aead ? bt->meta + start * META_LEN : NULL;
            j->first_sector = bt->first + start;
            j->sectors = bt->sectors != NULL ? bt->sectors + start : NULL;
            j->finals = bt->finals != NULL ? bt->finals + start : NULL;
            j->base = start;
            j->count = cnt;
            j->err = 0;
            j->status = 0;
            j->where = "";
            start += cnt;
        }
        share_t share = {.pieces = jobs, .npieces = npieces, .bytes = n * unit,
                         .planned = threads > 1 ? threads : 0, .plan = plan};
        run_share(&share, threads);
        set_give(b, set);
    }
    Py_END_ALLOW_THREADS

    int rc = -1;
    if (!rand_ok) {
        openssl_error("RAND_bytes", ERR_get_error());
        goto out;
    }
    if (set == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    long long first_bad = -1, n_bad = 0;
    for (size_t t = 0; t < npieces; t++) {
        job_t *j = &jobs[t];
        if (!j->ok) {
            if (b->backend == BK_IPP) {
                bound_raise(b, b->backend_error, "IPP %s failed with status %ld", j->where,
                            (long)j->status);
            } else {
                char buf[256] = "";
                if (j->err)
                    ERR_error_string_n(j->err, buf, sizeof buf);
                PyObject *msg = PyUnicode_FromFormat("OpenSSL %s failed: %s", j->where, buf);
                if (msg != NULL) {
                    PyErr_SetObject(b->backend_error, msg);
                    Py_DECREF(msg);
                }
            }
            goto out;
        }
        if (j->first_bad >= 0) {
            long long idx = (long long)j->base + j->first_bad;
            if (first_bad < 0 || idx < first_bad)
                first_bad = idx;
            n_bad += j->n_bad;
        }
    }
    if (first_bad >= 0) {
        uint64_t sector = bt->sectors != NULL ? bt->sectors[first_bad]
                                              : bt->first + (uint64_t)first_bad;
        PyObject *exc = PyObject_CallFunction(b->integrity_error, "KL",
                                              (unsigned long long)sector, n_bad);
        if (exc != NULL) {
            PyErr_SetObject(b->integrity_error, exc);
            Py_DECREF(exc);
        }
        goto out;
    }
    rc = 0;
out:
    if (jobs != local_jobs)
        PyMem_RawFree(jobs);
    return rc;
}

/* The arguments of encrypt/decrypt by position: keywords (rare: the volume passes positions)
 * are put in their places, with Python's own complaints for a bad call. */
static const char *const bound_arg_names[] = {"src", "dst", "first_sector", "metadata",
                                              "sectors", "nonces_given"};

static int bound_args(int enc, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      PyObject **out)
{
    const char *fn = enc ? "encrypt" : "decrypt";
    const Py_ssize_t most = enc ? 6 : 5;
    if (nargs > most) {
        PyErr_Format(PyExc_TypeError, "%s() takes from 3 to %zd positional arguments but %zd "
                     "were given", fn, most, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < 6; i++)
        out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i < most && at < 0; i++)
            if (PyUnicode_CompareWithASCIIString(name, bound_arg_names[i]) == 0)
                at = i;
        if (at < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'", fn,
                         name);
            return -1;
        }
        if (out[at] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fn,
                         bound_arg_names[at]);
            return -1;
        }
        out[at] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < 3; i++)
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %zd)", fn,
                         bound_arg_names[i], i + 1);
            return -1;
        }
    return 0;
}

/* encrypt(src, dst, first_sector, metadata=None, sectors=None, nonces_given=False);
 * decrypt(src, dst, first_sector, metadata=None, sectors=None) */
static PyObject *bound_crypt(Bound *b, int enc, PyObject *const *argv, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    PyObject *args[6];
    if (bound_args(enc, argv, nargs, kwnames, args) < 0)
        return NULL;
    PyObject *meta_obj = args[3] != NULL ? args[3] : Py_None;
    PyObject *secs_obj = args[4] != NULL ? args[4] : Py_None;
    int nonces_given = 0;
    if (args[5] != NULL && (nonces_given = PyObject_IsTrue(args[5])) < 0)
        return NULL;
    /* ints and NumPy integers (anything with __index__), not bools, floats or strings */
    unsigned long long first;
    if (PyLong_CheckExact(args[2])) {
        first = PyLong_AsUnsignedLongLong(args[2]);
    } else {
        if (PyBool_Check(args[2]) || !PyIndex_Check(args[2])) {
            PyErr_Format(PyExc_ValueError, "first_sector must be an int, not %s",
                         PyBool_Check(args[2]) ? "a bool" : Py_TYPE(args[2])->tp_name);
            return NULL;
        }
        PyObject *first_obj = PyNumber_Index(args[2]);
        if (first_obj == NULL) { /* an array of more than one number, say */
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "first_sector must be an int, not %s",
                             Py_TYPE(args[2])->tp_name);
            }
            return NULL;
        }
        first = PyLong_AsUnsignedLongLong(first_obj);
        Py_DECREF(first_obj);
    }
    if (first == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "first_sector must be in 0..2**64-1");
        return NULL;
    }
    Py_buffer src = {0}, dst = {0}, meta = {0}, secs = {0};
    int have_src = 0, have_dst = 0, have_meta = 0, have_secs = 0;
    PyObject *result = NULL;
    const size_t unit = b->unit;
    if (get_buf(args[0], &src, 0, "src") < 0)
        goto out;
    have_src = 1;
    if (get_buf(args[1], &dst, 1, "dst") < 0)
        goto out;
    have_dst = 1;
    if ((size_t)src.len % unit != 0) {
        PyErr_Format(PyExc_ValueError, "src is %zd bytes, not a multiple of the %zu-byte sector",
                     src.len, unit);
        goto out;
    }
    if (dst.len != src.len) {
        PyErr_Format(PyExc_ValueError, "dst is %zd bytes, src %zd: they must match", dst.len,
                     src.len);
        goto out;
    }
    if (src.buf != dst.buf && ranges_overlap(src.buf, (size_t)src.len, dst.buf, (size_t)dst.len)) {
        PyErr_SetString(PyExc_ValueError,
                        "source and destination overlap partially (in place must be exact)");
        goto out;
    }
    size_t n = (size_t)src.len / unit;
    if (secs_obj != Py_None) {
        if (get_sectors(secs_obj, &secs, n) < 0)
            goto out;
        have_secs = 1;
        if (ranges_overlap(secs.buf, (size_t)secs.len, dst.buf, (size_t)dst.len)) {
            PyErr_SetString(PyExc_ValueError, "sectors overlaps the destination");
            goto out;
        }
    } else if (n > 0 && first > UINT64_MAX - (n - 1)) {
        PyErr_Format(PyExc_ValueError,
                     "first_sector %llu + %zu sectors runs past sector 2**64-1", first, n);
        goto out;
    }
    int aead = b->alg == ALG_GCM || b->alg == ALG_CHACHA;
    if (aead) {
        if (meta_obj == Py_None) {
            PyErr_Format(PyExc_ValueError, "this cipher needs a metadata buffer of %zu bytes",
                         n * META_LEN);
            goto out;
        }
        if (get_buf(meta_obj, &meta, enc, "metadata") < 0)
            goto out;
        have_meta = 1;
        if ((size_t)meta.len != n * META_LEN) {
            PyErr_Format(PyExc_ValueError,
                         "metadata is %zd bytes, expected %zu (28 per sector: nonce 12 || tag 16)",
                         meta.len, n * META_LEN);
            goto out;
        }
        if (ranges_overlap(meta.buf, (size_t)meta.len, dst.buf, (size_t)dst.len) ||
            ranges_overlap(meta.buf, (size_t)meta.len, src.buf, (size_t)src.len)) {
            PyErr_SetString(PyExc_ValueError, "metadata overlaps the source or destination");
            goto out;
        }
        /* encryption writes nonces (decryption reads tags) there while the numbers are read */
        if (have_secs && ranges_overlap(secs.buf, (size_t)secs.len, meta.buf, (size_t)meta.len)) {
            PyErr_SetString(PyExc_ValueError, "sectors overlaps the metadata");
            goto out;
        }
    } else if (meta_obj != Py_None) {
        PyErr_SetString(PyExc_ValueError, "this cipher keeps no per-sector metadata; pass None");
        goto out;
    }
    if (n == 0) {
        result = Py_NewRef(Py_None);
        goto out;
    }
    batch_t bt = {.enc = enc, .n = n, .src = src.buf, .dst = dst.buf,
                  .meta = aead ? meta.buf : NULL, .first = first,
                  .sectors = have_secs ? secs.buf : NULL, .nonces_given = nonces_given};
    if (batch_run(b, &bt) < 0)
        goto out;
    result = Py_NewRef(Py_None);
out:
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

static PyObject *Bound_encrypt(Bound *b, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return bound_crypt(b, 1, args, nargs, kwnames);
}

static PyObject *Bound_decrypt(Bound *b, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return bound_crypt(b, 0, args, nargs, kwnames);
}

static PyMethodDef Bound_methods[] = {
    {"encrypt", (PyCFunction)(void (*)(void))Bound_encrypt, METH_FASTCALL | METH_KEYWORDS,
     "encrypt(src, dst, first_sector, metadata=None, sectors=None, nonces_given=False)\n--\n\n"
     "Encrypt len(src)//unit sectors into dst (may be src itself); AEAD: metadata receives\n"
     "nonce||tag per sector.  sectors: a uint64 buffer of per-unit sector numbers (gather)."},
    {"decrypt", (PyCFunction)(void (*)(void))Bound_decrypt, METH_FASTCALL | METH_KEYWORDS,
     "decrypt(src, dst, first_sector, metadata=None, sectors=None)\n--\n\n"
     "Decrypt sectors; AEAD tags are verified, failing sectors zeroed and IntegrityError\n"
     "raised naming the first one."},
    {NULL, NULL, 0, NULL},
};

static PyObject *Bound_get_threads(Bound *b, void *unused) { return PyLong_FromLong(b->threads); }
static PyObject *Bound_get_unit(Bound *b, void *unused) { return PyLong_FromSize_t(b->unit); }
static PyObject *Bound_get_backend(Bound *b, void *unused)
{
    return PyUnicode_FromString(b->backend == BK_IPP ? "ipp" : "openssl");
}

static PyGetSetDef Bound_getset[] = {
    {"threads", (getter)Bound_get_threads, NULL, "worker threads a call may use", NULL},
    {"unit", (getter)Bound_get_unit, NULL, "data unit (sector) size in bytes", NULL},
    {"backend", (getter)Bound_get_backend, NULL, "'openssl' or 'ipp'", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BoundType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "simulator.crypt._native.Bound",
    .tp_basicsize = sizeof(Bound),
    .tp_dealloc = (destructor)Bound_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Bound(backend, alg, key, unit, threads, integrity_error, backend_error): one key\n"
              "bound to a cipher and sector size, keyed once; see encrypt/decrypt.",
    .tp_methods = Bound_methods,
    .tp_getset = Bound_getset,
    .tp_new = Bound_new,
};

/* ------------------------------------------------------------------ VolumeMap: vectored I/O
 *
 * EncryptedVolume.writev/readv/readintov in one call: the piece table (each piece's sectors,
 * where their ciphertext lives in the store's arena, which chunk's flags and metadata they
 * touch) is built here from the sequence of pieces, and the whole request is one batch, so the
 * Python side does O(1) work per request instead of about a microsecond per piece.  The store
 * stays simulator/crypt/store.py's SparseStore: a dict of chunks, each with `written` (a
 * bytearray bitmap, bit i set: sector i holds data) and `meta` (None, or the _MetaSpans whose
 * first span `lo`/`buf` is read here directly; other spans go through its view()/copy()).
 * With `meta_records` (the store's per-chunk metadata records, RECORD_LEN bytes a chunk:
 * address, first sector, sectors of its one span, or with REC_MULTI the address of a table of
 * such records, one per span) the metadata is found there and the Chunk is looked up only to
 * create it or where no span covers a piece (the Python side then grows the spans).
 * Anything it does not handle (unaligned or out-of-range pieces, reads into buffers that
 * share bytes, other types) returns None untouched: the Python path then validates, explains
 * and does it.  Writes whose pieces share sectors are cut into parts, each written in turn.
 */

typedef struct {
    PyObject_HEAD
    Bound *bound;
    PyObject *chunks;          /* dict: chunk index -> Chunk */
    PyObject *arena;           /* writable buffer holding chunk idx at idx * chunk bytes */
    PyObject *chunk_for_write; /* callable(idx) -> Chunk, creating it */
    PyObject *bitmap;          /* writable buffer: the written-bitmaps, `stride` bytes a slot */
    PyObject *records;         /* NULL, or the buffer of metadata records, RECORD_LEN a slot */
    PyObject *slots;           /* NULL (slot = chunk index + 1), or uint32 per chunk: its slot
                                * in the bitmap and records, 1-based, 0 for no chunk (store.py) */
    unsigned char *no_bits;    /* `stride` zero bytes: the bitmap of a chunk with no slot */
    size_t unit, spc, stride;
    uint64_t sectors; /* of the volume */
    int stream;       /* the store outgrows the caches: writev streams short runs through a
                       * bounce buffer (VM_BOUNCE_RUN); runs keep the scattered loop (batch_join) */
    int ushift, sshift; /* log2 of unit and spc where a power of two, else -1 */
    int busy;           /* a request is under way: Python code it runs (chunk_for_write, a
                         * finalizer) must not change the store under it (EncryptedVolume
                         * refuses its own methods then; a nested native request is refused) */
    size_t unreported;  /* newly written sectors of failed requests: take_unreported() */
    size_t unreported_encrypted; /* sectors failed requests put through the cipher (their
                                  * nonces are spent): take_unreported() */
    uint32_t *recent; /* VM_RECENT entries, made when a request first streams (a small
                       * volume never does): the pages (of 4 KiB, + 1; 0: none) where the last
                       * vectored writes' short runs began, by a hash of the page: vm_recent() */
} VolumeMap;

/* x / d and x % d by a divisor of the map (shift: its log2, or -1): the sector size always is a
 * power of two and the chunk's sector count nearly always, and four 64-bit divisions a piece
 * were a tenth of a scattered request's own cycles. */
static inline uint64_t vm_div(uint64_t x, uint64_t d, int shift)
{
    return shift >= 0 ? x >> shift : x / d;
}

static inline uint64_t vm_mod(uint64_t x, uint64_t d, int shift)
{
    return shift >= 0 ? x & (d - 1) : x % d;
}

static int log2_exact(size_t v)
{
    if (v == 0 || (v & (v - 1)) != 0)
        return -1;
    int n = 0;
    while (v >>= 1)
        n++;
    return n;
}

static PyObject *s_meta, *s_lo, *s_buf, *s_more, *s_view, *s_copy;

enum { VM_WRITE = 0, VM_READINTO = 1, VM_READ = 2 };

typedef struct {
    uint64_t first; /* first sector */
    size_t nsec;
    Py_buffer view; /* VM_WRITE, VM_READINTO: the piece's buffer (not for bytes: see out) */
    int have_view;
    PyObject *out;  /* VM_READ: the new bytes object; VM_WRITE: the piece's bytes, held */
    unsigned char *data;
    int bounce;     /* VM_WRITE: encrypted into the bounce buffer, then streamed */
} vpiece_t;

typedef struct {
    PyObject *chunk;     /* strong reference where the Chunk object is needed, else NULL */
    unsigned char *bits; /* the chunk's written-bitmap */
    int empty;           /* no sector of the chunk holds data (reads: all zeros) */
    size_t a, b;         /* sectors [a, b) of the chunk */
    size_t pos;          /* position of sector a in the request (pieces in order) */
    uint64_t idx;        /* the chunk's index */
    uint64_t slot;       /* its slot (1-based; 0: the chunk does not exist) */
    unsigned char *at;   /* its metadata as the chunk's record says, or NULL (vm_meta_slots) */
} vspan_t;

/* store.py's _RECORD: little-endian u64 address, u32 first sector, u32 sectors | REC_MULTI */
enum { RECORD_LEN = 16 };
#define REC_MULTI 0x80000000u

/* A span's record, or NULL where its chunk has none (no slot). */
static inline unsigned char *vm_record(const Py_buffer *records, const vspan_t *v)
{
    return v->slot ? (unsigned char *)records->buf + (v->slot - 1) * RECORD_LEN : NULL;
}

/* The slot of chunk idx (slots: the store's table, or NULL for slot = idx + 1). */
static inline uint64_t vm_slot_of(const uint32_t *slots, uint64_t idx)
{
    return slots != NULL ? slots[idx] : idx + 1;
}

/* The metadata of sectors [a, b) of a chunk as its record says, or NULL when no one span
 * covers them (or the chunk keeps none). */
static unsigned char *rec_find(const unsigned char *rec, size_t a, size_t b)
{
    uint64_t addr;
    uint32_t lo, n;
    memcpy(&addr, rec, 8);
    memcpy(&lo, rec + 8, 4);
    memcpy(&n, rec + 12, 4);
    if (addr == 0)
        return NULL;
    if (n & REC_MULTI) { /* the last span starting at or before a */
        const unsigned char *t = (const unsigned char *)(uintptr_t)addr;
        size_t lo_i = 0, hi_i = n & ~REC_MULTI;
        while (lo_i < hi_i) {
            size_t mid = (lo_i + hi_i) / 2;
            uint32_t start;
            memcpy(&start, t + mid * RECORD_LEN + 8, 4);
            if (start <= a)
                lo_i = mid + 1;
            else
                hi_i = mid;
        }
        if (lo_i == 0)
            return NULL;
        return rec_find(t + (lo_i - 1) * RECORD_LEN, a, b);
    }
    if (lo <= a && b <= (size_t)lo + n)
        return (unsigned char *)(uintptr_t)addr + (a - lo) * META_LEN;
    return NULL;
}

static void vm_release(vpiece_t *p, Py_ssize_t n)
{
    if (p == NULL)
        return;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i].have_view)
            PyBuffer_Release(&p[i].view);
        Py_XDECREF(p[i].out);
    }
    PyMem_Free(p);
}

/* Sorts n [lo, hi) ranges (r: 2 * n uint64) by lo: insertion sort of runs of 16, then
 * bottom-up merges through tmp (2 * n uint64).  Inline comparisons: qsort's callback per
 * comparison cost about 4 % of a 64-piece writev.  Returns the sorted array (r or tmp). */
static uint64_t *sort_ranges(uint64_t *r, uint64_t *tmp, size_t n)
{
    enum { RUN = 16 };
    for (size_t s = 0; s < n; s += RUN) {
        size_t e = s + RUN < n ? s + RUN : n;
        for (size_t i = s + 1; i < e; i++) {
            uint64_t lo = r[2 * i], hi = r[2 * i + 1];
            size_t j = i;
            for (; j > s && r[2 * (j - 1)] > lo; j--) {
                r[2 * j] = r[2 * (j - 1)];
                r[2 * j + 1] = r[2 * (j - 1) + 1];
            }
            r[2 * j] = lo;
            r[2 * j + 1] = hi;
        }
    }
    uint64_t *from = r, *to = tmp;
    for (size_t width = RUN; width < n; width *= 2) {
        for (size_t s = 0; s < n; s += 2 * width) {
            size_t m = s + width < n ? s + width : n, e = s + 2 * width < n ? s + 2 * width : n;
            size_t a = s, b = m, k = s;
            while (a < m && b < e) {
                size_t pick = from[2 * b] < from[2 * a] ? b++ : a++;
                to[2 * k] = from[2 * pick];
                to[2 * k + 1] = from[2 * pick + 1];
                k++;
            }
            memcpy(to + 2 * k, from + 2 * a, (m - a) * 2 * sizeof(uint64_t));
            k += m - a;
            memcpy(to + 2 * k, from + 2 * b, (e - b) * 2 * sizeof(uint64_t));
        }
        uint64_t *t = from;
        from = to;
        to = t;
    }
    return from;
}

/* For the usual vectored request: every range as long as the first and starting at a
 * multiple of that length (pieces of one block size), where two share a point only if they
 * start at the same place; found with a small hash table in one pass instead of a sort (64
 * random 4 KiB pieces: the sort and its mispredicted merges were 5 % of a writev).  Returns
 * the first range that starts where an earlier one does, n when none does, or -1 where the
 * ranges are not of that form (or too many for the table). */
static Py_ssize_t same_size_first(const uint64_t *r, size_t n)
{
    enum { BITS = 9, MAX = 1u << (BITS - 1) }; /* at most half full */
    const uint64_t len = r[1] - r[0];
    if (n > MAX || len == 0)
        return -1;
    const int pow2 = (len & (len - 1)) == 0;
    for (size_t i = 0; i < n; i++)
        if (r[2 * i + 1] - r[2 * i] != len || (pow2 ? r[2 * i] & (len - 1) : r[2 * i] % len))
            return -1;
    int bits = 4;
    while ((1u << bits) < 2 * n)
        bits++;
    const size_t mask = ((size_t)1 << bits) - 1;
    uint64_t slot[1u << BITS];
    for (size_t k = 0; k <= mask; k++)
        slot[k] = UINT64_MAX; /* no range starts there: it would end past 2**64 */
    for (size_t i = 0; i < n; i++) {
        const uint64_t lo = r[2 * i];
        size_t k = (size_t)((lo * 0x9E3779B97F4A7C15ull) >> (64 - bits));
        for (; slot[k] != UINT64_MAX; k = (k + 1) & mask)
            if (slot[k] == lo)
                return (Py_ssize_t)i;
        slot[k] = lo;
    }
    return (Py_ssize_t)n;
}

/* True when two of the n [lo, hi) ranges in r (2 * n uint64; tmp as many) share an element.
 * Ranges already in order (sequential requests) are checked without sorting. */
static int any_overlap(uint64_t *r, uint64_t *tmp, size_t n)
{
    if (n > 1) {
        Py_ssize_t quick = same_size_first(r, n);
        if (quick >= 0)
            return (size_t)quick < n;
    }
    size_t i = 1;
    while (i < n && r[2 * i] >= r[2 * i - 1])
        i++;
    if (i < n)
        r = sort_ranges(r, tmp, n);
    for (i = 1; i < n; i++)
        if (r[2 * i] < r[2 * i - 1])
            return 1;
    return 0;
}

/* The first of the n [lo, hi) ranges in r that shares an element with one before it, or n when
 * none does: where a request of overlapping writes must be cut so that each part has no sector
 * twice (later pieces win by running later).  Ranges of one block size (same_size_first's
 * form) are found in one pass with the hash table; others by galloping over prefixes, each
 * checked by any_overlap() on a copy (work: 4 * n uint64), so that a request cut into g parts
 * costs O(n log^2 n) in all. */
static size_t first_clash(const uint64_t *r, size_t n, uint64_t *work)
{
    if (n < 2)
        return n;
    Py_ssize_t quick = same_size_first(r, n);
    if (quick >= 0)
        return (size_t)quick;
    /* smallest prefix length with an overlap: gallop, then bisect */
    size_t good = 1, bad = 0;
    for (size_t want = 2; bad == 0; want = want * 2 < n ? want * 2 : n) {
        memcpy(work, r, 2 * want * sizeof(uint64_t));
        if (any_overlap(work, work + 2 * want, want))
            bad = want;
        else if (want == n)
            return n;
        else
            good = want;
    }
    while (bad - good > 1) {
        size_t mid = good + (bad - good) / 2;
        memcpy(work, r, 2 * mid * sizeof(uint64_t));
        if (any_overlap(work, work + 2 * mid, mid))
            bad = mid;
        else
            good = mid;
    }
    return good; /* range `good` (0-based) is the first to overlap one before it */
}

/* Where a request's first touches will land: the written-bitmaps and the AEAD records (NULL:
 * none). */
typedef struct {
    unsigned char *bitmap, *records;
    const uint32_t *slots; /* or NULL (slot = index + 1) */
} vpre_t;

/* Starts the loads of a piece's chunk bitmap and record (compact areas: no page walk) while
 * the rest of the request is parsed, so random pieces over a large volume do not each stall
 * on them later.  Not the piece's place in the arena: a prefetch that misses the TLB holds up
 * retirement for its page walk, and amid the parsing few walks overlap; run_job() starts
 * them all from a tight loop, where they do (cold 64-piece XTS writev 58-60 us against 63-65
 * with the walks started here, same sitting). */
static inline void vm_prefetch(const VolumeMap *vm, const vpre_t *pre, uint64_t first)
{
    uint64_t idx = vm_div(first, vm->spc, vm->sshift);
    if (pre->slots != NULL) { /* the slot entry: the bitmap and record follow from it (and,
                               * dense, are mostly in the caches) */
        pf_keep(pre->slots + idx);
        return;
    }
    pf_keep(pre->bitmap + idx * vm->stride);
    if (pre->records != NULL)
        pf_keep(pre->records + idx * RECORD_LEN);
}

/* The pieces of a request, checked: returns their number, -1 with an exception set, or -2
 * when the fast path does not apply (nothing set; the caller returns None). */
static Py_ssize_t vm_parse(VolumeMap *vm, PyObject *seq, int mode, const vpre_t *pre,
                           vpiece_t **out, size_t *total, Py_ssize_t **cuts, Py_ssize_t *ncuts)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    /* not zeroed (that was a memset of 7 KiB for 64 pieces): each entry is set as it is
     * parsed, and only parsed entries are released */
    vpiece_t *p = PyMem_Malloc((n > 0 ? (size_t)n : 1) * sizeof *p);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const uint64_t unit = vm->unit, limit = vm->sectors;
    const int ush = vm->ushift;
    size_t sum = 0;
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        p[i].have_view = 0;
        p[i].out = NULL;
        p[i].bounce = 0;
        if (i >= PySequence_Fast_GET_SIZE(seq)) /* a list changed under us: Python's turn */
            goto punt;
        PyObject **items = PySequence_Fast_ITEMS(seq); /* again: a buffer export can run code */
        const Py_ssize_t now = PySequence_Fast_GET_SIZE(seq);
        /* the pieces' objects, fetched ahead: a request built long before (or one of many)
         * has them out of the caches, and each piece is a chain of three loads (the tuple,
         * then its offset and data objects); two thirds of this loop waited on them */
        if (i + 4 < now)
            pf_keep(items[i + 4]);
        PyObject *ahead = i + 2 < now ? items[i + 2] : NULL;
        if (ahead != NULL && PyTuple_CheckExact(ahead) && PyTuple_GET_SIZE(ahead) == 2) {
            pf_keep(PyTuple_GET_ITEM(ahead, 0));
            pf_keep(PyTuple_GET_ITEM(ahead, 1));
        }
        PyObject *item = items[i];
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2)
            goto punt;
        PyObject *off_obj = PyTuple_GET_ITEM(item, 0), *obj = PyTuple_GET_ITEM(item, 1);
        if (!PyLong_CheckExact(off_obj))
            goto punt;
        int overflow = 0;
        long long off = PyLong_AsLongLongAndOverflow(off_obj, &overflow);
        if (overflow || off < 0 || vm_mod((uint64_t)off, unit, ush))
            goto punt;
        long long len;
        if (mode == VM_READ) {
            if (!PyLong_CheckExact(obj))
                goto punt;
            len = PyLong_AsLongLongAndOverflow(obj, &overflow);
            if (overflow || len < 0)
                goto punt;
        } else if (mode == VM_WRITE && PyBytes_CheckExact(obj)) {
            /* bytes (the usual piece) are immutable and cannot be resized while referenced:
             * held, they need no buffer export (about 100 instructions a piece) */
            p[i].out = Py_NewRef(obj);
            p[i].data = (unsigned char *)PyBytes_AS_STRING(obj);
            len = PyBytes_GET_SIZE(obj);
        } else {
            /* the item is held while its buffer is taken (an exporter could run code) */
            Py_INCREF(item);
            int got = PyObject_GetBuffer(obj, &p[i].view,
                                         mode == VM_WRITE ? PyBUF_SIMPLE : PyBUF_WRITABLE);
            Py_DECREF(item);
            if (got < 0) {
                PyErr_Clear();
                goto punt;
            }
            p[i].have_view = 1;
            p[i].data = p[i].view.buf;
            len = p[i].view.len;
        }
        uint64_t first = vm_div((uint64_t)off, unit, ush), nsec = vm_div((uint64_t)len, unit, ush);
        if (vm_mod((uint64_t)len, unit, ush) || first > limit || nsec > limit - first)
            goto punt;
        p[i].first = first;
        p[i].nsec = (size_t)nsec;
        if (p[i].nsec > 0) /* an empty piece may sit at the volume's end: nothing to fetch */
            vm_prefetch(vm, pre, p[i].first);
        if (mode == VM_READ) {
            if ((p[i].out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len)) == NULL) {
                vm_release(p, i + 1);
                return -1;
            }
            p[i].data = (unsigned char *)PyBytes_AS_STRING(p[i].out);
        }
        sum += p[i].nsec;
    }
    if (mode != VM_READ && n > 1) {
        /* writes: where two pieces share a sector, the request is cut before the later one
         * (each part runs in turn, so later pieces win, as the Python path applies them in
         * order); reads into buffers: no two buffers may share a byte */
        uint64_t *r = PyMem_Malloc(8 * sizeof(uint64_t) * (size_t)n);
        Py_ssize_t *who = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)n);
        if (r == NULL || who == NULL) {
            PyMem_Free(r);
            PyMem_Free(who);
            vm_release(p, n);
            PyErr_NoMemory();
            return -1;
        }
        size_t m = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (p[k].nsec == 0)
                continue;
            uint64_t lo = mode == VM_WRITE ? p[k].first : (uint64_t)(uintptr_t)p[k].data;
            uint64_t span = mode == VM_WRITE ? p[k].nsec : p[k].nsec * unit;
            r[2 * m] = lo;
            r[2 * m + 1] = lo + span;
            who[m] = k;
            m++;
        }
        uint64_t *work = r + 2 * (size_t)n;
        memcpy(work, r, 2 * m * sizeof(uint64_t));
        int clash = any_overlap(work, work + 2 * (size_t)n, m);
        if (clash && mode == VM_WRITE) {
            Py_ssize_t *c = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)n), nc = 0;
            if (c == NULL) {
                PyMem_Free(r);
                PyMem_Free(who);
                vm_release(p, n);
                PyErr_NoMemory();
                return -1;
            }
            for (size_t start = 0; start < m;) {
                size_t j = start + first_clash(r + 2 * start, m - start, work);
                if (j >= m)
                    break;
                c[nc++] = who[j];
                start = j;
            }
            *cuts = c;
            *ncuts = nc;
            clash = 0;
        }
        PyMem_Free(r);
        PyMem_Free(who);
        if (clash) {
            i = n;
            goto punt;
        }
    }
    *out = p;
    *total = sum;
    return n;
punt:
    vm_release(p, i + 1 > n ? n : i + 1);
    return -2;
}

/* The chunk of index idx: a new reference, created when `create`; NULL with no exception
 * set when it does not exist (reads). */
static PyObject *vm_chunk(VolumeMap *vm, uint64_t idx, int create)
{
    PyObject *key = PyLong_FromUnsignedLongLong(idx);
    if (key == NULL)
        return NULL;
    PyObject *ch = PyDict_GetItemWithError(vm->chunks, key);
    if (ch != NULL) {
        Py_INCREF(ch);
    } else if (!PyErr_Occurred() && create) {
        ch = PyObject_CallOneArg(vm->chunk_for_write, key);
    }
    Py_DECREF(key);
    return ch;
}

/* An attribute that is a __slots__ member (Chunk.meta, _MetaSpans.buf/lo/more), read at its
 * offset once the member descriptor of the object's type is known: the generic lookup costs
 * more than the rest of a piece's bookkeeping.  Other attributes (or types) go through
 * PyObject_GetAttr.  A new reference, or NULL with an exception set. */
typedef struct {
    PyTypeObject *type; /* strong reference: the type whose member was found */
    Py_ssize_t offset;  /* 0: not a plain object slot (use the generic lookup) */
} slot_cache_t;

static slot_cache_t slot_meta, slot_buf, slot_lo, slot_more;

static PyObject *slot_get(PyObject *obj, PyObject *name, slot_cache_t *c)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (c->type != tp) {
        PyObject *descr = PyObject_GetAttr((PyObject *)tp, name);
        if (descr == NULL)
            return NULL;
        Py_ssize_t offset = 0;
        if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
                offset = m->offset;
        }
        Py_DECREF(descr);
        Py_XSETREF(c->type, (PyTypeObject *)Py_NewRef(tp));
        c->offset = offset;
    }
    if (c->offset > 0) {
        PyObject *v = *(PyObject **)((char *)obj + c->offset);
        if (v != NULL)
            return Py_NewRef(v);
    }
    return PyObject_GetAttr(obj, name); /* raises AttributeError for an unset slot */
}

/* The metadata of sectors [a, b) inside one span (lo, buf), or NULL when it does not cover them. */
static unsigned char *span_at(PyObject *lo_obj, PyObject *buf, size_t a, size_t b, int *err)
{
    if (!PyByteArray_CheckExact(buf) || !PyLong_Check(lo_obj))
        return NULL;
    Py_ssize_t lo = PyLong_AsSsize_t(lo_obj);
    if (lo < 0) {
        if (PyErr_Occurred())
            *err = -1;
        return NULL;
    }
    size_t have = (size_t)PyByteArray_GET_SIZE(buf) / META_LEN;
    if ((size_t)lo <= a && b <= (size_t)lo + have)
        return (unsigned char *)PyByteArray_AS_STRING(buf) + (a - (size_t)lo) * META_LEN;
    return NULL;
}

/* Where the metadata of sectors [a, b) of a chunk's _MetaSpans lies when one of its spans
 * (the first, `lo`/`buf`, or one of `more`: sorted (lo, buf) pairs) covers them, else NULL
 * (no exception set unless -1 is stored in *err). */
static unsigned char *vm_meta_fast(PyObject *meta, size_t a, size_t b, int *err)
{
    PyObject *buf = slot_get(meta, s_buf, &slot_buf);
    if (buf == NULL) {
        *err = -1;
        return NULL;
    }
    unsigned char *at = NULL;
    if (buf != Py_None) {
        PyObject *lo_obj = slot_get(meta, s_lo, &slot_lo);
        if (lo_obj == NULL)
            *err = -1;
        else
            at = span_at(lo_obj, buf, a, b, err);
        Py_XDECREF(lo_obj);
    }
    Py_DECREF(buf); /* the spans keep it alive */
    if (at != NULL || *err < 0 || buf == Py_None)
        return at;
    PyObject *more = slot_get(meta, s_more, &slot_more);
    if (more == NULL) {
        *err = -1;
        return NULL;
    }
    if (PyList_CheckExact(more)) {
        /* the last span starting at or before a */
        Py_ssize_t lo_i = 0, hi_i = PyList_GET_SIZE(more);
        while (lo_i < hi_i) {
            Py_ssize_t mid = (lo_i + hi_i) / 2;
            PyObject *t = PyList_GET_ITEM(more, mid);
            if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 2) {
                lo_i = hi_i = -1;
                break;
            }
            size_t start = PyLong_AsSize_t(PyTuple_GET_ITEM(t, 0));
            if (start == (size_t)-1 && PyErr_Occurred()) {
                *err = -1;
                lo_i = hi_i = -1;
                break;
            }
            if (start <= a)
                lo_i = mid + 1;
            else
                hi_i = mid;
        }
        if (lo_i > 0) {
            PyObject *t = PyList_GET_ITEM(more, lo_i - 1);
            at = span_at(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1), a, b, err);
        }
    }
    Py_DECREF(more);
    return at;
}

/* Moves metadata of sectors [a, b) of a chunk to (store) or from (!store) the META_LEN slots
 * at mem: the first span directly, others through meta.view(a, b) / meta.copy(a, b, out). */
static int vm_meta_move(PyObject *ch, size_t a, size_t b, unsigned char *mem, int store)
{
    PyObject *meta = slot_get(ch, s_meta, &slot_meta);
    if (meta == NULL)
        return -1;
    int rc = 0;
    size_t len = (b - a) * META_LEN;
    if (meta == Py_None) {
        if (!store)
            memset(mem, 0, len);
        goto out;
    }
    unsigned char *at = vm_meta_fast(meta, a, b, &rc);
    if (rc < 0)
        goto out;
    if (at != NULL) {
        if (mem == NULL) /* vm_meta_reserve(): the slots exist */
            goto out;
        if (store)
            memcpy(at, mem, len);
        else
            memcpy(mem, at, len);
        goto out;
    }
    rc = -1;
    PyObject *lo = PyLong_FromSize_t(a), *hi = PyLong_FromSize_t(b);
    if (lo != NULL && hi != NULL) {
        if (store) {
            PyObject *v = PyObject_CallMethodObjArgs(meta, s_view, lo, hi, NULL);
            Py_buffer vb;
            if (v != NULL && PyObject_GetBuffer(v, &vb, PyBUF_WRITABLE) == 0) {
                if ((size_t)vb.len == len) {
                    if (mem != NULL)
                        memcpy(vb.buf, mem, len);
                    rc = 0;
                } else {
                    PyErr_SetString(PyExc_ValueError, "metadata view of the wrong size");
                }
                PyBuffer_Release(&vb);
            }
            Py_XDECREF(v);
        } else {
            PyObject *mv = PyMemoryView_FromMemory((char *)mem, (Py_ssize_t)len, PyBUF_WRITE);
            PyObject *r = mv ? PyObject_CallMethodObjArgs(meta, s_copy, lo, hi, mv, NULL) : NULL;
            rc = r != NULL ? 0 : -1;
            Py_XDECREF(r);
            Py_XDECREF(mv);
        }
    }
    Py_XDECREF(lo);
    Py_XDECREF(hi);
out:
    Py_DECREF(meta);
    return rc;
}

/* Sets bits [a, b) of a bitmap; returns how many were clear. */
static size_t bits_set(unsigned char *bits, size_t a, size_t b)
{
    size_t fresh = 0;
    for (size_t i = a; i < b; i++) {
        unsigned char m = (unsigned char)(1u << (i & 7));
        if (!(bits[i >> 3] & m)) {
            bits[i >> 3] |= m;
            fresh++;
        }
    }
    return fresh;
}

/* Whether any sector of a chunk's bitmap holds data (eight bytes at a time: asked once per
 * piece, byte by byte it was 6 % of a 64-piece request's own instructions). */
static int bits_any(const unsigned char *bits, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, bits + i, 8);
        if (w)
            return 1;
    }
    for (; i < n; i++)
        if (bits[i])
            return 1;
    return 0;
}

/* The request cut by chunk: one span per (piece, chunk) in request order, with the chunk's
 * bitmap.  The Chunk object is looked up only where it is needed: for its AEAD metadata, or
 * to create a chunk a write lands in first (a chunk with a sector written exists: the
 * bitmap says so without a lookup).  Returns the number of spans or -1 with an error set. */
static Py_ssize_t vm_spans(VolumeMap *vm, vpiece_t *p, Py_ssize_t np, size_t total, int write,
                           int aead, unsigned char *bitmap, const uint32_t *slots, int records,
                           vspan_t **out)
{
    /* a piece of k sectors touches at most k / spc + 2 chunks */
    size_t cap = total / vm->spc + 2 * (size_t)np + 1, ns = 0, pos = 0;
    const uint64_t chunks = (vm->sectors + vm->spc - 1) / vm->spc; /* slots are 1..chunks */
    vspan_t *sp = PyMem_Malloc(cap * sizeof *sp); /* each entry set below */
    if (sp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        uint64_t sec = p[i].first, end = p[i].first + p[i].nsec;
        while (sec < end) {
            uint64_t idx = vm_div(sec, vm->spc, vm->sshift);
            size_t a = (size_t)vm_mod(sec, vm->spc, vm->sshift);
            size_t b = end - sec < vm->spc - a ? a + (size_t)(end - sec) : vm->spc;
            uint64_t slot = vm_slot_of(slots, idx);
            if (slot > chunks) /* a slot past the mappings: never read or write there */
                goto bad_slot;
            unsigned char *bits = slot ? bitmap + (slot - 1) * vm->stride : vm->no_bits;
            int empty = !slot || !bits_any(bits, vm->stride);
            PyObject *ch = NULL;
            int need = records ? write && empty : write ? aead || empty : aead && !empty;
            if (need)
                ch = vm_chunk(vm, idx, write);
            if (ch == NULL && PyErr_Occurred()) {
                for (size_t k = 0; k < ns; k++)
                    Py_XDECREF(sp[k].chunk);
                PyMem_Free(sp);
                return -1;
            }
            if (write && !slot) { /* created just now: its slot is set */
                slot = vm_slot_of(slots, idx);
                if (!slot || slot > chunks) {
                    Py_XDECREF(ch);
                    goto bad_slot;
                }
                bits = bitmap + (slot - 1) * vm->stride;
            }
            sp[ns].chunk = ch;
            sp[ns].slot = slot;
            sp[ns].bits = bits;
            sp[ns].empty = empty || (!write && aead && !records && ch == NULL);
            sp[ns].idx = idx;
            sp[ns].a = a;
            sp[ns].b = b;
            sp[ns].pos = pos;
            sp[ns].at = NULL;
            ns++;
            pos += b - a;
            sec += b - a;
        }
    }
    *out = sp;
    return (Py_ssize_t)ns;
bad_slot:
    for (size_t k = 0; k < ns; k++)
        Py_XDECREF(sp[k].chunk);
    PyMem_Free(sp);
    PyErr_SetString(PyExc_RuntimeError, "a chunk's slot is missing or past the slot table");
    return -1;
}

static void vm_spans_free(vspan_t *sp, Py_ssize_t ns)
{
    if (sp == NULL)
        return;
    for (Py_ssize_t k = 0; k < ns; k++)
        Py_XDECREF(sp[k].chunk);
    PyMem_Free(sp);
}

/* One vectored request: its pieces, its spans and, per sector, where it comes from and goes
 * to, its number and `meta_slots` metadata slots. */
typedef struct {
    PyObject *seq;
    vpiece_t *p;
    Py_ssize_t np;
    size_t total; /* sectors */
    vspan_t *sp;
    Py_ssize_t ns;
    Py_buffer arena, bitmap, records, slots;
    int have_arena, have_bitmap, have_records, have_slots;
    unsigned char *block;
    const unsigned char **srcs;
    unsigned char **dsts;
    uint64_t *secs;
    unsigned char *meta;
    VolumeMap *owner; /* the map whose busy flag this request set (vm_end clears it) */
    Py_ssize_t *cuts; /* writes whose pieces share sectors: the pieces that start each later
                       * part (ncuts of them, in order; NULL: one part) */
    Py_ssize_t ncuts;
    size_t longest; /* sectors of the largest part (all of them: one part) */
} vreq_t;

/* Parses and lays out a request: 1 ready, 0 not handled here (the caller returns None),
 * -1 with an exception set.  vm_end() in every case. */
static int vm_begin(VolumeMap *vm, PyObject *pieces, int mode, int aead, int meta_slots,
                    vreq_t *r)
{
    memset(r, 0, sizeof *r);
    if (vm->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the volume is in the middle of a request (called again from code that "
                        "request ran, such as a finalizer)");
        return -1;
    }
    vm->busy = 1;
    r->owner = vm;
    if (!PyList_CheckExact(pieces) && !PyTuple_CheckExact(pieces))
        return 0;
    /* no snapshot of a list (copying it cost 1.3 % of a 64-piece writev): Python code can run
     * while parsing only in a buffer exporter or a collection's finalizers, so each item is
     * held while its buffer is taken and the list's size is checked again on every step */
    r->seq = Py_NewRef(pieces);
    if (PyObject_GetBuffer(vm->arena, &r->arena,
                           mode == VM_WRITE ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
        return -1;
    r->have_arena = 1;
    if ((uint64_t)r->arena.len / vm->unit < vm->sectors) {
        PyErr_SetString(PyExc_ValueError, "the arena is smaller than the volume");
        return -1;
    }
    if (PyObject_GetBuffer(vm->bitmap, &r->bitmap, PyBUF_WRITABLE) < 0)
        return -1;
    r->have_bitmap = 1;
    if ((size_t)r->bitmap.len < (vm->sectors + vm->spc - 1) / vm->spc * vm->stride) {
        PyErr_SetString(PyExc_ValueError, "the bitmap is smaller than the volume's chunks");
        return -1;
    }
    if (aead && vm->records != NULL) {
        if (PyObject_GetBuffer(vm->records, &r->records, PyBUF_WRITABLE) < 0)
            return -1;
        r->have_records = 1;
        if ((size_t)r->records.len < (vm->sectors + vm->spc - 1) / vm->spc * RECORD_LEN) {
            PyErr_SetString(PyExc_ValueError, "the metadata records are fewer than the chunks");
            return -1;
        }
    }
    if (vm->slots != NULL) {
        if (PyObject_GetBuffer(vm->slots, &r->slots, PyBUF_SIMPLE) < 0)
            return -1;
        r->have_slots = 1;
        if ((size_t)r->slots.len < (vm->sectors + vm->spc - 1) / vm->spc * sizeof(uint32_t) ||
            ((uintptr_t)r->slots.buf) % _Alignof(uint32_t) != 0) {
            PyErr_SetString(PyExc_ValueError, "the slot table is smaller than the chunks");
            return -1;
        }
    }
    vpre_t pre = {r->bitmap.buf, r->have_records ? r->records.buf : NULL,
                  r->have_slots ? r->slots.buf : NULL};
    r->np = vm_parse(vm, r->seq, mode, &pre, &r->p, &r->total, &r->cuts, &r->ncuts);
    if (r->np < 0)
        return r->np == -2 ? 0 : -1;
    if ((r->ns = vm_spans(vm, r->p, r->np, r->total, mode == VM_WRITE, aead, r->bitmap.buf,
                          r->have_slots ? r->slots.buf : NULL,
                          r->have_records, &r->sp)) < 0) {
        r->ns = 0;
        return -1;
    }
    /* per sector of the request, or of its largest part (a part writes no sector twice, so
     * this stays within the volume however often a request repeats its pieces) */
    size_t t = r->total;
    if (r->ncuts > 0) {
        t = 0;
        for (Py_ssize_t c = 0, p0 = 0; c <= r->ncuts; c++) {
            Py_ssize_t p1 = c < r->ncuts ? r->cuts[c] : r->np;
            size_t k = 0;
            for (; p0 < p1; p0++)
                k += r->p[p0].nsec;
            t = k > t ? k : t;
        }
    }
    r->longest = t;
    r->block = PyMem_RawMalloc(t * (2 * sizeof(void *) + sizeof(uint64_t) +
                                    (size_t)meta_slots * META_LEN) + 1);
    if (r->block == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->srcs = (const unsigned char **)r->block;
    r->dsts = (unsigned char **)(r->block + t * sizeof(void *));
    r->secs = (uint64_t *)(r->block + 2 * t * sizeof(void *));
    r->meta = meta_slots ? r->block + t * (2 * sizeof(void *) + sizeof(uint64_t)) : NULL;
    return 1;
}

static void vm_end(vreq_t *r)
{
    if (r->owner != NULL)
        r->owner->busy = 0;
    PyMem_RawFree(r->block);
    vm_spans_free(r->sp, r->ns);
    if (r->have_arena)
        PyBuffer_Release(&r->arena);
    if (r->have_bitmap)
        PyBuffer_Release(&r->bitmap);
    if (r->have_records)
        PyBuffer_Release(&r->records);
    if (r->have_slots)
        PyBuffer_Release(&r->slots);
    vm_release(r->p, r->np > 0 ? r->np : 0);
    PyMem_Free(r->cuts);
    Py_XDECREF(r->seq);
}

/* Moves the metadata of one span of a request: through the chunk's record where one span
 * covers it, else through the Chunk object (looked up now if it was not needed before). */
static int vm_span_meta(VolumeMap *vm, vreq_t *r, vspan_t *v, unsigned char *mem, int store)
{
    if (r->have_records) {
        unsigned char *rec = vm_record(&r->records, v);
        unsigned char *at = rec != NULL ? rec_find(rec, v->a, v->b) : NULL;
        if (at != NULL) {
            if (mem == NULL) /* vm_meta_reserve(): the slots exist */
                return 0;
            if (store)
                memcpy(at, mem, (v->b - v->a) * META_LEN);
            else
                memcpy(mem, at, (v->b - v->a) * META_LEN);
            return 0;
        }
        if (v->chunk == NULL && (v->chunk = vm_chunk(vm, v->idx, 0)) == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_RuntimeError, "chunk %llu holds data but is not in the store",
                             (unsigned long long)v->idx);
            return -1;
        }
    }
    return vm_meta_move(v->chunk, v->a, v->b, mem, store);
}

/* Where each span's metadata lies, from the records, in two steps so that the loads of one
 * request overlap instead of each piece waiting for its own: vm_meta_tables() starts the
 * loads of the span tables the records name (the records themselves were prefetched while
 * the request was parsed), vm_meta_slots() then finds each span's slots and starts their
 * loads.  Reads need the slots (the tags) before the batch, so they run both at once; writes
 * fill the slots only after it, so they find them after it, when the tables have long
 * arrived.  The pointers stay valid until the Python side next changes the spans: the volume's
 * lock is held for the request, and writes store through them before any span is grown. */
static void vm_meta_tables(const vreq_t *r, Py_ssize_t s0, Py_ssize_t s1)
{
    if (!r->have_records)
        return;
    for (Py_ssize_t s = s0; s < s1; s++) {
        const unsigned char *rec = vm_record(&r->records, &r->sp[s]);
        if (rec == NULL)
            continue;
        uint64_t addr;
        uint32_t n;
        memcpy(&addr, rec, 8);
        memcpy(&n, rec + 12, 4);
        if (addr != 0 && (n & REC_MULTI))
            for (size_t off = 0; off < (size_t)(n & ~REC_MULTI) * RECORD_LEN; off += 64)
                pf_keep((const unsigned char *)(uintptr_t)addr + off);
    }
}

static void vm_meta_slots(vreq_t *r, Py_ssize_t s0, Py_ssize_t s1, int store)
{
    if (!r->have_records)
        return;
    for (Py_ssize_t s = s0; s < s1; s++) {
        vspan_t *v = &r->sp[s];
        if (v->empty && !store)
            continue;
        unsigned char *rec = vm_record(&r->records, v);
        v->at = rec != NULL ? rec_find(rec, v->a, v->b) : NULL;
        if (v->at != NULL) {
            size_t len = (v->b - v->a) * META_LEN;
            for (size_t off = 0; off < len + 63; off += 64)
                pf_keep(v->at + (off < len ? off : len - 1));
        }
    }
}

/* Makes the metadata slots of every span of a write exist before anything is encrypted (the
 * chunk's spans grown through the Chunk object where no span covers them yet), so that
 * storing nonce || tag after the batch cannot fail: a MemoryError there left new ciphertext
 * beside old tags, and sectors that had been readable failed their tags. */
static int vm_meta_reserve(VolumeMap *vm, vreq_t *r)
{
    /* every span, sectors written before too: their slots may lie in two spans that touch,
     * which storing through one view would merge (an allocation) after the batch */
    for (Py_ssize_t s = 0; s < r->ns; s++)
        if (vm_span_meta(vm, r, &r->sp[s], NULL, 1) < 0)
            return -1;
    return 0;
}

/* Scattered writes: a run of adjacent pieces shorter than this is encrypted into a bounce
 * buffer (hot in the caches) and streamed into the arena with non-temporal stores, each unit
 * as the cipher loop starts the next (pf_ahead(); the rest after the batch).  A store to a
 * line not in the cache first reads it from memory (the read for ownership); a long
 * contiguous run has the hardware prefetchers stream those reads, but a lone 4 KiB page of a
 * large arena waits for them, and prefetching its lines ahead did not help.  Streaming stores
 * read nothing: 64 scattered 4 KiB pieces of a 4 GiB volume, Zen 5, IPP XTS 8.2 -> 9.0 GB/s
 * and GCM 5.9 -> 6.9 streamed after the batch, XTS 9.8-10.3 streamed a unit behind it.  Only
 * where the store outgrows the caches (vm->stream): pieces that are still cached would be
 * written out to memory for nothing (-23 % in a 1 MiB region). */
#define VM_BOUNCE_RUN (64 * 1024)

/* Whether the page at byte `at` of the store began a short run of a recent vectored write (and
 * now it does): such a page is likely still in the caches, so it is written there, not
 * streamed past them.  A request written again and again (a hot set of pages, or a benchmark
 * repeating one request) then runs from the caches after its first pass, while random pieces
 * of a large store, seldom written twice within the table's reach (4,096 pages: 16 MiB, where
 * _STREAM_ABOVE puts the caches' reach), keep streaming.  64 scattered 4 KiB pieces of a 4 GiB
 * store written again on every call, against one 256 KiB write in the caches, Zen 4, IPP, three
 * alternated runs: XTS 0.75-0.84 -> 0.78-0.87, GCM 0.62-0.79 -> 0.81-0.98; fresh random pieces
 * unchanged.  A hint only: a wrong answer costs speed, never correctness. */
enum { VM_RECENT_BITS = 12, VM_RECENT = 1 << VM_RECENT_BITS };

static inline int vm_recent(VolumeMap *vm, uint64_t at)
{
    if (vm->recent == NULL &&
        (vm->recent = PyMem_RawCalloc(VM_RECENT, sizeof *vm->recent)) == NULL)
        return 0; /* no table: every page fresh (a hint, as said) */
    const uint64_t page = at >> 12;
    const uint32_t tag = (uint32_t)page + 1 ? (uint32_t)page + 1 : 1;
    uint32_t *slot = &vm->recent[(uint32_t)(page * 0x9E3779B97F4A7C15ull >> (64 - VM_RECENT_BITS))];
    int hit = *slot == tag;
    *slot = tag;
    return hit;
}
/* and at most this much of one request (of each part, where its pieces share sectors) goes
 * through it (it stays in the caches; the rest of a huge request is written in place) */
#define VM_BOUNCE_MAX (1024 * 1024)

/* Which pieces of the part [p0, p1) go through the bounce buffer: those of short runs, where
 * the store holds more than the caches (vm->stream, set by the volume) and the part has
 * several pieces (a lone 4 KiB write gained nothing: its Python call costs more), on one
 * thread (the streaming stores are weakly ordered: a worker's would need a fence of its own
 * before it reports its job done, and this thread's fence orders only its own), unless a
 * recent request began a short run on the same page (vm_recent).  Returns the sectors that
 * go through it. */
static size_t vm_bounce_plan(VolumeMap *vm, vreq_t *r, Py_ssize_t p0, Py_ssize_t p1)
{
    const size_t unit = vm->unit;
    size_t nb = 0;
    if (!vm->stream || p1 - p0 < 2 || vm->bound->threads != 1)
        return 0;
    for (Py_ssize_t i = p0, e; i < p1; i = e) {
        size_t run = r->p[i].nsec;
        for (e = i + 1; e < p1 && r->p[e].first == r->p[e - 1].first + r->p[e - 1].nsec; e++)
            run += r->p[e].nsec;
        int small = run * unit < VM_BOUNCE_RUN && (nb + run) * unit <= VM_BOUNCE_MAX &&
                    !vm_recent(vm, r->p[i].first * unit);
        for (Py_ssize_t q = i; q < e; q++) {
            r->p[q].bounce = small;
            nb += small ? r->p[q].nsec : 0;
        }
    }
    return nb;
}

/* One part of a write request, pieces [p0, p1) (sectors from k0 in the request, spans
 * [s0, s1)), no sector twice: encrypted in one batch into the store (short runs through
 * `bounce`, as vm_bounce_plan() chose), then the metadata and the flags.  The request's
 * per-sector arrays hold this part from their start.  Adds the newly written sectors to
 * *fresh; 0, or -1 with an exception set (then nothing of this part was written unless the
 * cipher itself failed: everything that can fail otherwise was allocated before). */
static int vm_write_part(VolumeMap *vm, vreq_t *r, Py_ssize_t p0, Py_ssize_t p1, size_t k0,
                         Py_ssize_t s0, Py_ssize_t s1, unsigned char *bounce,
                         unsigned char **finals, size_t *fresh)
{
    Bound *b = vm->bound;
    const size_t unit = vm->unit;
    const int aead = b->alg == ALG_GCM || b->alg == ALG_CHACHA;
    const unsigned char **srcs = r->srcs;
    unsigned char **dsts = r->dsts;
    uint64_t *secs = r->secs;
    size_t k = 0, kb = 0;
    for (Py_ssize_t i = p0; i < p1; i++) {
        unsigned char *to = (unsigned char *)r->arena.buf + r->p[i].first * unit;
        if (r->p[i].bounce) {
            if (r->p[i].nsec > 0)
                pf_keep(to); /* its page walk, done by the time the copy comes */
            to = bounce + kb * unit;
            kb += r->p[i].nsec;
        }
        for (size_t s = 0; s < r->p[i].nsec; s++, k++) {
            srcs[k] = r->p[i].data + s * unit;
            dsts[k] = to + s * unit;
            secs[k] = r->p[i].first + s;
            if (finals != NULL)
                finals[k] = r->p[i].bounce ? (unsigned char *)r->arena.buf + secs[k] * unit
                                           : NULL;
        }
    }
    const size_t total = k;
    if (aead)
        vm_meta_tables(r, s0, s1);
    batch_t bt = {.enc = 1, .n = total, .srcs = srcs, .dsts = dsts, .meta = r->meta,
                  .sectors = secs, .finals = kb > 0 ? finals : NULL};
    if (!vm->stream)
        batch_join(&bt, unit);
    if (batch_run(b, &bt) < 0)
        return -1;
    if (kb > 0) { /* the units the cipher loops did not stream as they went */
        for (size_t q = 0; q < total; q++)
            if (finals[q] != NULL)
                vm_stream(finals[q], dsts[q], unit);
        vm_stream_fence();
    }
    if (aead)
        vm_meta_slots(r, s0, s1, 1);
    /* then nonce || tag: first where the records said (before any span is grown, which would
     * move them), then the rest through the Chunk objects (their slots made by
     * vm_meta_reserve()); the flags, span by span */
    for (Py_ssize_t s = s0; aead && s < s1; s++)
        if (r->sp[s].at != NULL)
            memcpy(r->sp[s].at, r->meta + (r->sp[s].pos - k0) * META_LEN,
                   (r->sp[s].b - r->sp[s].a) * META_LEN);
    for (Py_ssize_t s = s0; aead && s < s1; s++)
        if (r->sp[s].at == NULL &&
            vm_span_meta(vm, r, &r->sp[s], r->meta + (r->sp[s].pos - k0) * META_LEN, 1) < 0)
            return -1;
    for (Py_ssize_t s = s0; s < s1; s++)
        *fresh += bits_set(r->sp[s].bits, r->sp[s].a, r->sp[s].b);
    return 0;
}

/* writev(pieces) -> (bytes, pieces, sectors, newly written sectors) or None.  Pieces that
 * share sectors are written part by part (vm_parse's cuts), each part one batch, in order.
 * What can fail is done before the first part: the bounce buffer, the per-sector arrays,
 * the metadata slots; should a later part still fail (the cipher library, or building the
 * result), the sectors the parts before it newly wrote, and those it put through the cipher
 * (the failing part's too: its nonces may be spent), wait in take_unreported() for the
 * volume's counts. */
static PyObject *VolumeMap_writev(VolumeMap *vm, PyObject *pieces)
{
    const int aead = vm->bound->alg == ALG_GCM || vm->bound->alg == ALG_CHACHA;
    const size_t unit = vm->unit;
    PyObject *result = NULL;
    unsigned char *bounce = NULL, **finals = NULL;
    size_t fresh = 0, nbytes = 0, k0 = 0, most = 0, tried = 0;
    vreq_t r;
    int ready = vm_begin(vm, pieces, VM_WRITE, aead, aead, &r);
    if (ready <= 0) {
        result = ready == 0 ? Py_NewRef(Py_None) : NULL;
        goto out;
    }
    for (Py_ssize_t c = 0, p0 = 0; c <= r.ncuts; c++) {
        Py_ssize_t p1 = c < r.ncuts ? r.cuts[c] : r.np;
        size_t nb = vm_bounce_plan(vm, &r, p0, p1);
        most = nb > most ? nb : most;
        p0 = p1;
    }
    if (most > 0 && ((bounce = PyMem_RawMalloc(most * unit)) == NULL ||
                     (finals = PyMem_RawMalloc(r.longest * sizeof *finals)) == NULL)) {
        PyErr_NoMemory();
        goto out;
    }
    if (aead && vm_meta_reserve(vm, &r) < 0)
        goto out;
    Py_ssize_t p0 = 0, s0 = 0;
    for (Py_ssize_t c = 0; c <= r.ncuts; c++) {
        Py_ssize_t p1 = c < r.ncuts ? r.cuts[c] : r.np;
        size_t k1 = k0;
        for (Py_ssize_t i = p0; i < p1; i++)
            k1 += r.p[i].nsec;
        Py_ssize_t s1 = s0;
        while (s1 < r.ns && r.sp[s1].pos < k1)
            s1++;
        tried += k1 - k0; /* counted before the cipher runs: a failure in it may have
                           * drawn nonces for any of the part's sectors */
        if (vm_write_part(vm, &r, p0, p1, k0, s0, s1, bounce, finals, &fresh) < 0)
            goto out;
        p0 = p1;
        k0 = k1;
        s0 = s1;
    }
    for (Py_ssize_t i = 0; i < r.np; i++)
        nbytes += r.p[i].nsec * unit;
    result = Py_BuildValue("(nnnn)", (Py_ssize_t)nbytes, r.np, (Py_ssize_t)r.total,
                           (Py_ssize_t)fresh);
out:
    if (result == NULL) { /* what the parts before the failure wrote (or all: the result) */
        vm->unreported += fresh;
        vm->unreported_encrypted += tried;
    }
    PyMem_RawFree(finals);
    PyMem_RawFree(bounce);
    vm_end(&r);
    return result;
}

/* take_unreported() -> (newly written sectors, sectors encrypted) of requests that failed
 * part-way (and so did not report them), since the last call; the volume adds them to its
 * counts (the second to the nonces spent under its key). */
static PyObject *VolumeMap_take_unreported(VolumeMap *vm, PyObject *unused)
{
    PyObject *r = Py_BuildValue("(nn)", (Py_ssize_t)vm->unreported,
                                (Py_ssize_t)vm->unreported_encrypted);
    if (r != NULL)
        vm->unreported = vm->unreported_encrypted = 0;
    return r;
}

/* readv / readintov: decrypt the written sectors of every piece in one batch, zeros for the
 * others.  Returns (list of bytes or None, bytes read, sectors decrypted) or None. */
static PyObject *vm_read(VolumeMap *vm, PyObject *pieces, int mode)
{
    Bound *b = vm->bound;
    const size_t unit = vm->unit;
    const int aead = b->alg == ALG_GCM || b->alg == ALG_CHACHA;
    PyObject *result = NULL;
    vreq_t r;
    /* metadata: gathered for the sectors decrypted, then as the request's sectors lie */
    int ready = vm_begin(vm, pieces, mode, aead, 2 * aead, &r);
    if (ready <= 0) {
        result = ready == 0 ? Py_NewRef(Py_None) : NULL;
        goto out;
    }
    unsigned char *gmeta = r.meta;
    unsigned char *rmeta = aead ? gmeta + r.total * META_LEN : NULL;
    if (aead) {
        vm_meta_tables(&r, 0, r.ns);
        vm_meta_slots(&r, 0, r.ns, 0);
    }
    size_t k = 0; /* sectors to decrypt */
    Py_ssize_t piece = 0;
    size_t in_piece = 0; /* sectors of the current piece before this span */
    for (Py_ssize_t s = 0; s < r.ns; s++) {
        vspan_t *v = &r.sp[s];
        while (in_piece >= r.p[piece].nsec) { /* the piece this span belongs to */
            piece++;
            in_piece = 0;
        }
        unsigned char *dst = r.p[piece].data + in_piece * unit;
        size_t cnt = v->b - v->a;
        uint64_t sec0 = r.p[piece].first + in_piece;
        in_piece += cnt;
        if (v->empty) {
            memset(dst, 0, cnt * unit);
            continue;
        }
        const unsigned char *bits = v->bits;
        if (aead && v->at != NULL)
            memcpy(rmeta + v->pos * META_LEN, v->at, cnt * META_LEN);
        else if (aead && vm_span_meta(vm, &r, v, rmeta + v->pos * META_LEN, 0) < 0)
            goto out;
        for (size_t i = 0; i < cnt; i++) {
            size_t bit = v->a + i;
            if (!(bits[bit >> 3] & (1u << (bit & 7)))) {
                memset(dst + i * unit, 0, unit);
                continue;
            }
            r.srcs[k] = (const unsigned char *)r.arena.buf + (sec0 + i) * unit;
            r.dsts[k] = dst + i * unit;
            r.secs[k] = sec0 + i;
            if (aead)
                memcpy(gmeta + k * META_LEN, rmeta + (v->pos + i) * META_LEN, META_LEN);
            k++;
        }
    }
    batch_t bt = {.enc = 0, .n = k, .srcs = r.srcs, .dsts = r.dsts, .meta = gmeta,
                  .sectors = r.secs};
    if (!vm->stream)
        batch_join(&bt, unit);
    if (batch_run(b, &bt) < 0)
        goto out;
    PyObject *list = Py_NewRef(Py_None);
    if (mode == VM_READ) {
        Py_DECREF(list);
        if ((list = PyList_New(r.np)) == NULL)
            goto out;
        for (Py_ssize_t i = 0; i < r.np; i++) {
            PyList_SET_ITEM(list, i, r.p[i].out);
            r.p[i].out = NULL;
        }
    }
    result = Py_BuildValue("(Nnn)", list, (Py_ssize_t)(r.total * unit), (Py_ssize_t)k);
out:
    vm_end(&r);
    return result;
}

static PyObject *VolumeMap_readv(VolumeMap *vm, PyObject *pieces)
{
    return vm_read(vm, pieces, VM_READ);
}

static PyObject *VolumeMap_readintov(VolumeMap *vm, PyObject *pieces)
{
    return vm_read(vm, pieces, VM_READINTO);
}

static PyObject *VolumeMap_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"bound", "chunks", "arena", "chunk_for_write", "bitmap",
                             "bitmap_stride", "sector_size", "sectors_per_chunk", "sectors",
                             "meta_records", "slots", NULL};
    PyObject *bound, *chunks, *arena, *cfw, *bitmap, *records = Py_None, *slots = Py_None;
    Py_ssize_t unit, spc, stride;
    unsigned long long sectors;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!OOOnnnK|OO:VolumeMap", kwlist, &BoundType,
                                     &bound, &PyDict_Type, &chunks, &arena, &cfw, &bitmap,
                                     &stride, &unit, &spc, &sectors, &records, &slots))
        return NULL;
    if ((size_t)unit != ((Bound *)bound)->unit || spc < 1 || stride * 8 < spc ||
        !PyCallable_Check(cfw) || !PyObject_CheckBuffer(arena) || !PyObject_CheckBuffer(bitmap) ||
        (records != Py_None && !PyObject_CheckBuffer(records)) ||
        (slots != Py_None && !PyObject_CheckBuffer(slots))) {
        PyErr_SetString(PyExc_ValueError,
                        "VolumeMap: sector size must be the bound cipher's, spc >= 1, a bitmap "
                        "stride of spc bits, a callable chunk_for_write, buffers for the arena "
                        "and the bitmap (and the metadata records, or None)");
        return NULL;
    }
    VolumeMap *vm = (VolumeMap *)type->tp_alloc(type, 0);
    if (vm == NULL)
        return NULL;
    vm->bound = (Bound *)Py_NewRef(bound);
    vm->chunks = Py_NewRef(chunks);
    vm->arena = Py_NewRef(arena);
    vm->chunk_for_write = Py_NewRef(cfw);
    vm->bitmap = Py_NewRef(bitmap);
    vm->records = records == Py_None ? NULL : Py_NewRef(records);
    vm->slots = slots == Py_None ? NULL : Py_NewRef(slots);
    vm->stride = (size_t)stride;
    if ((vm->no_bits = PyMem_Calloc((size_t)stride, 1)) == NULL) {
        Py_DECREF(vm);
        return PyErr_NoMemory();
    }
    vm->unit = (size_t)unit;
    vm->spc = (size_t)spc;
    vm->sectors = sectors;
    vm->ushift = log2_exact(vm->unit);
    vm->sshift = log2_exact(vm->spc);
    return (PyObject *)vm;
}

static void VolumeMap_dealloc(VolumeMap *vm)
{
    Py_XDECREF(vm->bound);
    Py_XDECREF(vm->chunks);
    Py_XDECREF(vm->arena);
    Py_XDECREF(vm->chunk_for_write);
    Py_XDECREF(vm->records);
    Py_XDECREF(vm->slots);
    Py_XDECREF(vm->bitmap);
    PyMem_Free(vm->no_bits);
    PyMem_RawFree(vm->recent);
    Py_TYPE(vm)->tp_free((PyObject *)vm);
}

static PyMemberDef VolumeMap_members[] = {
    {"busy", T_INT, offsetof(VolumeMap, busy), READONLY,
     "a request is under way (EncryptedVolume refuses re-entrant calls then)"},
    {"stream", T_INT, offsetof(VolumeMap, stream), 0,
     "writev: short runs of several pieces are encrypted into a bounce buffer and streamed\n"
     "into the arena (non-temporal stores): for stores larger than the caches."},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef VolumeMap_methods[] = {
    {"writev", (PyCFunction)VolumeMap_writev, METH_O,
     "writev(pieces) -> (bytes, pieces, sectors, newly written) or None\n--\n\n"
     "Encrypt whole-sector (offset, buffer) pieces straight into the arena in one batch,\n"
     "then flag their sectors and store their nonce||tag; pieces that share sectors in\n"
     "parts, one batch each, cut before each piece that meets an earlier one, so later\n"
     "pieces win.  None: not handled here (nothing changed)."},
    {"take_unreported", (PyCFunction)VolumeMap_take_unreported, METH_NOARGS,
     "take_unreported() -> (newly written, encrypted)\n--\n\nSectors newly written by, and "
     "sectors put through the cipher by, writev\nrequests that failed part-way, since the "
     "last call (the volume adds them to its counts)."},
    {"readv", (PyCFunction)VolumeMap_readv, METH_O,
     "readv(pieces) -> (list of bytes, bytes, sectors decrypted) or None\n--\n\n"
     "Whole-sector (offset, length) pieces decrypted in one batch; unwritten sectors zeros."},
    {"readintov", (PyCFunction)VolumeMap_readintov, METH_O,
     "readintov(pieces) -> (None, bytes, sectors decrypted) or None\n--\n\n"
     "As readv into whole-sector writable (offset, buffer) pieces that share no byte."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject VolumeMapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "simulator.crypt._native.VolumeMap",
    .tp_basicsize = sizeof(VolumeMap),
    .tp_dealloc = (destructor)VolumeMap_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "VolumeMap(bound, chunks, arena, chunk_for_write, sector_size, sectors_per_chunk,\n"
              "sectors): vectored I/O of one EncryptedVolume's store in one native call.",
    .tp_methods = VolumeMap_methods,
    .tp_members = VolumeMap_members,
    .tp_new = VolumeMap_new,
};

/* ------------------------------------------------------------------ crypt_one (vectors) */

/* Releases the buffers of a one-message call; those never filled (zeroed) are no-ops. */
static void release_views(Py_buffer *const *views, int n)
{
    for (int i = 0; i < n; i++)
        PyBuffer_Release(views[i]);
}

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
    release_views((Py_buffer *[]){&iv, &data, &aad, &tag}, 4);
    return result;
}

/* ------------------------------------------------------------------ IPP: one message, ceiling */

PyDoc_STRVAR(ipp_crypt_one_doc,
"ipp_crypt_one(alg, encrypt, key, iv, data, aad=b'', tag=None) -> (out, tag) or None\n"
"--\n\n"
"One message through IPP Crypto with an explicit tweak (XTS, one data unit of len(data)) or\n"
"IV and AAD (GCM): for published test vectors.  Returns None when a GCM tag fails.");

static PyObject *ipp_crypt_one(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"alg", "encrypt", "key", "iv", "data", "aad", "tag", NULL};
    int alg, enc;
    Py_buffer key = {0}, iv = {0}, data = {0}, aad = {0}, tag = {0};
    PyObject *out = NULL, *result = NULL;
    void *ctx = NULL;
    int ctx_size = 0;
    unsigned char tagbuf[TAG_LEN], dummy = 0;
    IppStatus s = 0;
    const char *where = "";

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ipy*y*y*|y*y*:ipp_crypt_one", kwlist, &alg, &enc,
                                     &key, &iv, &data, &aad, &tag))
        return NULL;
    if (!ipp.loaded) {
        PyErr_SetString(PyExc_RuntimeError, "the IPP Crypto library is not loaded");
        goto out;
    }
    if ((alg != ALG_XTS && alg != ALG_GCM) || !key_len_ok(alg, (int)key.len)) {
        PyErr_Format(PyExc_ValueError, "IPP: unsupported algorithm %d with a %zd-byte key", alg,
                     key.len);
        goto out;
    }
    if (data.len > (INT32_MAX / 8) || aad.len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "data too long");
        goto out;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out == NULL)
        goto out;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    if (alg == ALG_XTS) {
        if (iv.len != 16 || data.len < 16) {
            PyErr_SetString(PyExc_ValueError, "XTS needs a 16-byte tweak and >= 16 bytes");
            goto out;
        }
        ctx_size = ipp.xts_size;
        where = "ippsAES_XTSInit";
        ctx = ipp_ctx_new(ALG_XTS, key.buf, (int)key.len, (size_t)data.len, &s);
        if (ctx != NULL) {
            where = enc ? "ippsAES_XTSEncrypt" : "ippsAES_XTSDecrypt";
            s = (enc ? ipp.xts_encrypt : ipp.xts_decrypt)(data.buf, o, (int)data.len * 8, ctx,
                                                          iv.buf, 0);
        }
        if (s != 0) {
            PyErr_Format(PyExc_RuntimeError, "IPP %s failed with status %d", where, s);
            goto out;
        }
        result = Py_BuildValue("(OO)", out, Py_None);
        goto out;
    }
    if (!enc && (tag.buf == NULL || tag.len != TAG_LEN)) {
        PyErr_SetString(PyExc_ValueError, "decrypting needs the 16-byte tag");
        goto out;
    }
    if (iv.len < 1) {
        PyErr_SetString(PyExc_ValueError, "GCM needs an IV");
        goto out;
    }
    ctx_size = ipp.gcm_size;
    where = "ippsAES_GCMInit";
    ctx = ipp_ctx_new(ALG_GCM, key.buf, (int)key.len, 0, &s);
    if (ctx != NULL)
        s = ipp_gcm_message(ctx, enc, iv.buf, (int)iv.len, aad.len ? aad.buf : &dummy,
                            (int)aad.len, data.buf, o, (int)data.len, tagbuf, &where);
    if (s != 0) {
        PyErr_Format(PyExc_RuntimeError, "IPP %s failed with status %d", where, s);
        goto out;
    }
    if (enc)
        result = Py_BuildValue("(Oy#)", out, tagbuf, (Py_ssize_t)TAG_LEN);
    else if (CRYPTO_memcmp(tagbuf, tag.buf, TAG_LEN) != 0)
        result = Py_NewRef(Py_None);
    else
        result = Py_BuildValue("(OO)", out, Py_None);
out:
    Py_XDECREF(out);
    if (ctx != NULL)
        ipp_ctx_free(ctx, ctx_size);
    release_views((Py_buffer *[]){&key, &iv, &data, &aad, &tag}, 5);
    return result;
}

PyDoc_STRVAR(ipp_ceiling_doc,
"ipp_ceiling(alg, encrypt, key, buf, unit, iterations, out=None) -> seconds\n"
"--\n\n"
"IPP's own per-data-unit loop, in place over buf (or from buf into `out`, of buf's size, as\n"
"a volume writes: twice the memory traffic), one key, `iterations` passes, GIL released:\n"
"XTS: ippsAES_XTSEncrypt/Decrypt per unit (one fixed tweak); GCM: GCMStart (12-byte IV,\n"
"20-byte AAD) + GCMEncrypt/Decrypt + GCMGetTag per unit (one fixed IV, no nonce drawing).\n"
"The ceiling for IPP-backed code.");

static PyObject *ipp_ceiling(PyObject *self, PyObject *args)
{
    int alg, enc;
    Py_buffer key = {0}, buf = {0}, dstb = {0};
    PyObject *out_obj = Py_None;
    Py_ssize_t unit;
    long long iterations;
    if (!PyArg_ParseTuple(args, "ipy*w*nL|O:ipp_ceiling", &alg, &enc, &key, &buf, &unit,
                          &iterations, &out_obj))
        return NULL;
    PyObject *result = NULL;
    void *ctx = NULL;
    int size = 0;
    IppStatus s = 0;
    if (out_obj != Py_None) {
        if (PyObject_GetBuffer(out_obj, &dstb, PyBUF_WRITABLE) < 0)
            goto out;
        if (dstb.len != buf.len || ranges_overlap(dstb.buf, (size_t)dstb.len, buf.buf,
                                                 (size_t)buf.len)) {
            PyErr_SetString(PyExc_ValueError,
                            "IPP ceiling: out must be as long as buf and share no byte with it");
            goto out;
        }
    }
    if (!ipp.loaded) {
        PyErr_SetString(PyExc_RuntimeError, "the IPP Crypto library is not loaded");
        goto out;
    }
    if ((alg != ALG_XTS && alg != ALG_GCM) || !key_len_ok(alg, (int)key.len) || unit < 16 ||
        unit > MAX_UNIT) {
        PyErr_SetString(PyExc_ValueError, "IPP ceiling: bad algorithm, key or unit");
        goto out;
    }
    size = ipp_ctx_size(alg);
    if ((ctx = ipp_ctx_new(alg, key.buf, (int)key.len, (size_t)unit, &s)) == NULL) {
        PyErr_Format(PyExc_RuntimeError, "IPP init failed with status %d", s);
        goto out;
    }
    size_t n = (size_t)(buf.len / unit);
    double elapsed;
    Py_BEGIN_ALLOW_THREADS
    unsigned char iv[16] = {0}, aad[AAD_LEN] = {0}, tag[TAG_LEN];
    const char *where = "";
    double t0 = now_seconds();
    for (long long it = 0; s == 0 && it < iterations; it++) {
        unsigned char *p = buf.buf, *q = dstb.buf != NULL ? dstb.buf : buf.buf;
        for (size_t i = 0; s == 0 && i < n; i++) {
            unsigned char *u = p + i * (size_t)unit, *v = q + i * (size_t)unit;
            if (alg == ALG_XTS)
                s = (enc ? ipp.xts_encrypt : ipp.xts_decrypt)(u, v, (int)unit * 8, ctx, iv, 0);
            else
                s = ipp_gcm_message(ctx, enc, iv, NONCE_LEN, aad, AAD_LEN, u, v, (int)unit, tag,
                                    &where);
        }
    }
    elapsed = now_seconds() - t0;
    Py_END_ALLOW_THREADS
    if (s != 0) {
        PyErr_Format(PyExc_RuntimeError, "IPP ceiling loop failed with status %d", s);
        goto out;
    }
    result = PyFloat_FromDouble(elapsed);
out:
    if (ctx != NULL)
        ipp_ctx_free(ctx, size);
    PyBuffer_Release(&key);
    if (buf.buf)
        PyBuffer_Release(&buf);
    if (dstb.obj != NULL)
        PyBuffer_Release(&dstb);
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

static PyObject *set_aead_direct(PyObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    int was = aead_direct_enabled;
    aead_direct_enabled = on;
    return PyBool_FromLong(was);
}

static PyObject *set_stream_width(PyObject *self, PyObject *arg)
{
    long want = PyLong_AsLong(arg);
    if (want == -1 && PyErr_Occurred())
        return NULL;
#if defined(VM_WIDE_STREAM)
    int was = vm_stream_width, best = vm_stream_best();
    vm_stream_width = want < 0 ? 0 : want > best ? best : (int)want;
    return PyLong_FromLong(was);
#else
    return PyLong_FromLong(0);
#endif
}

static PyObject *aead_path(PyObject *self, PyObject *unused)
{
    /* which loop AES-256-GCM uses now (fetching it resolves the provider functions) */
    if (get_cipher(ALG_GCM, 32) == NULL)
        return NULL;
    return PyUnicode_FromString(aead_direct_enabled && direct[3].ok ? "provider" : "evp");
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


static PyObject *set_split_bytes(PyObject *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 4096) {
        PyErr_SetString(PyExc_ValueError, "split bytes must be >= 4096");
        return NULL;
    }
    size_t was = split_bytes;
    split_bytes = (size_t)n;
    return PyLong_FromSize_t(was);
}

static PyObject *get_split_bytes(PyObject *self, PyObject *unused)
{
    return PyLong_FromSize_t(split_bytes);
}

/* OpenSSL's view of the CPU: OPENSSL_info(OPENSSL_INFO_CPU_SETTINGS), public since 3.0 and on
 * x86 "OPENSSL_ia32cap=0x<words 0,1>:0x<words 2,3>" (CPUID.1 EDX/ECX, CPUID.7 EBX/ECX;
 * OPENSSL_ia32cap(3)); None where the library reports nothing. */
static PyObject *openssl_cpu_settings(PyObject *self, PyObject *unused)
{
    const char *info = OPENSSL_info(OPENSSL_INFO_CPU_SETTINGS);
    if (info == NULL)
        return Py_NewRef(Py_None);
    return PyUnicode_FromString(info);
}

static PyMethodDef methods[] = {
    {"ipp_load", ipp_load, METH_O, ipp_load_doc},
    {"ipp_loaded", ipp_loaded, METH_NOARGS,
     "ipp_loaded() -> bool\n--\n\nWhether this process has loaded IPP Crypto."},
    {"ipp_crypt_one", (PyCFunction)(void (*)(void))ipp_crypt_one, METH_VARARGS | METH_KEYWORDS,
     ipp_crypt_one_doc},
    {"ipp_ceiling", ipp_ceiling, METH_VARARGS, ipp_ceiling_doc},
    {"set_split_bytes", set_split_bytes, METH_O,
     "set_split_bytes(n) -> int\n--\n\nSmallest batch share (bytes) worth a worker thread; "
     "returns the previous value."},
    {"split_bytes", get_split_bytes, METH_NOARGS,
     "split_bytes() -> int\n--\n\nSmallest batch share (bytes) worth a worker thread."},
    {"openssl_cpu_settings", openssl_cpu_settings, METH_NOARGS,
     "openssl_cpu_settings() -> str or None\n--\n\nOPENSSL_info(OPENSSL_INFO_CPU_SETTINGS)."},
    {"crypt_one", (PyCFunction)(void (*)(void))crypt_one, METH_VARARGS | METH_KEYWORDS, crypt_one_doc},
    {"ceiling", ceiling, METH_VARARGS, ceiling_doc},
    {"openssl_version", openssl_version, METH_NOARGS,
     "openssl_version() -> str\n--\n\nThe version string of the libcrypto loaded at run time."},
    {"set_xts_direct", set_xts_direct, METH_O,
     "set_xts_direct(on) -> bool\n--\n\nUse the provider's XTS functions directly (True, the "
     "default) or the EVP_CipherInit_ex loop; returns the previous setting."},
    {"set_stream_width", set_stream_width, METH_O,
     "set_stream_width(width) -> int\n--\n\nStreaming stores of writev's bounce buffer: 2 "
     "AVX-512, 1 AVX2, 0 SSE2 (capped at what the CPU has; returns the previous width)."},
    {"set_aead_direct", set_aead_direct, METH_O,
     "set_aead_direct(on) -> bool\n--\n\nUse the provider's AEAD (GCM, ChaCha20-Poly1305) "
     "functions directly (True, the default) or the EVP loop; returns the previous setting."},
    {"aead_path", aead_path, METH_NOARGS,
     "aead_path() -> str\n--\n\n'provider' or 'evp': the loop AEAD sectors go through."},
    {"xts_path", xts_path, METH_NOARGS,
     "xts_path() -> str\n--\n\n'provider' or 'evp': the loop XTS sectors go through."},
    {"random_bytes", random_bytes, METH_VARARGS,
     "random_bytes(n) -> bytes\n--\n\nn bytes from OpenSSL's RAND_bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_native",
    "Per-sector encryption loops over OpenSSL and IPP Crypto (see simulator.crypt.engines).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    if (PyType_Ready(&BoundType) < 0 || PyType_Ready(&VolumeMapType) < 0)
        return NULL;
#if defined(VM_WIDE_STREAM)
    vm_stream_width = vm_stream_best();
#endif
    struct { PyObject **slot; const char *text; } names[] = {
        {&s_meta, "meta"}, {&s_lo, "lo"}, {&s_buf, "buf"}, {&s_more, "more"},
        {&s_view, "view"}, {&s_copy, "copy"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL)
            return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Bound", (PyObject *)&BoundType) < 0 ||
        PyModule_AddObjectRef(m, "VolumeMap", (PyObject *)&VolumeMapType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    const char *evp_only = getenv("FARGATE_SIM_NATIVE_EVP_ONLY");
    if (evp_only != NULL && strcmp(evp_only, "1") == 0)
        xts_direct_enabled = aead_direct_enabled = 0;
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
        PyModule_AddIntConstant(m, "BACKEND_OPENSSL", BK_OPENSSL) < 0 ||
        PyModule_AddIntConstant(m, "BACKEND_IPP", BK_IPP) < 0 ||
        PyModule_AddStringConstant(m, "OPENSSL_HEADER_VERSION", OPENSSL_VERSION_TEXT) < 0
#ifdef MAP_NORESERVE
        || PyModule_AddIntConstant(m, "MAP_NORESERVE", MAP_NORESERVE) < 0
#endif
    ) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
