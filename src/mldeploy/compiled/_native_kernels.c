/* The tree walker's kernels in C: the same steps as _walk_kernel.py and _bitvector_kernel.py.
 *
 * mldeploy builds this file with the machine's C compiler the first time a walker needs it
 * (compiled/native.py) and calls it through ctypes, which releases the GIL for each call.
 * A score is a sum of leaf values in tree order, with no multiplication and no reordering
 * (built with -ffp-contract=off, without -ffast-math), so the results are the numba kernels'
 * to the bit. The arrays are checked in Python before a kernel sees them. Where the compiler targets
 * AVX-512, the walk also steps rows in vectors (walk_tree_vectors): other steps, the same leaves, and
 * their values added in the same order.
 */
#include <stdint.h>
#include <stdlib.h>
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__BMI2__)
#include <immintrin.h>
#include <stddef.h>
#include <time.h>
#define VECTOR_WALK 1
#endif

#define LANES 12 /* rows walked side by side through one tree, as _walk_kernel.LANES */

typedef struct {
    double split;
    int32_t right; /* the right child's record; a leaf's row in the values */
    int32_t code;  /* feature * 2 + NaN-goes-left for an interior node, -1 for a leaf */
} node_t;          /* _walk_kernel.NODE: 16 bytes */

typedef struct { /* native.WalkModel */
    const node_t *nodes;
    const double *values;
    int64_t width;
    const int64_t *trees; /* [n_trees, 2]: root record, first target */
    int64_t n_trees;
    int64_t block_rows;
    int64_t nan_routes;
} walk_model_t;

typedef struct { /* native.BitvectorModel */
    const int64_t *used;
    int64_t n_used;
    const double *thresholds;
    const int64_t *threshold_starts;
    const int64_t *mask_starts;
    const void *masks; /* [mask rows, n_trees] words of word_bits */
    const uint8_t *clears;
    const void *full;
    int64_t n_trees;
    int64_t word_bits;
    const int64_t *leaf_starts;
    const double *values;
    int64_t width;
    const int64_t *targets;
} bitvector_model_t;

/* Lay the trees out depth first (see _walk_kernel.preorder); return the records used, or -1 on overflow. */
int64_t mldeploy_preorder(const int32_t *flat, const double *splits, const int64_t *roots, int64_t n_trees,
                          node_t *nodes, int64_t capacity, int64_t *out_roots)
{
    int64_t *stack = malloc(2 * (capacity + 1) * sizeof(int64_t)); /* ids still to lay out */
    if (stack == NULL)
        return -2;
    int64_t *parents = stack + capacity + 1; /* where to write each one's position (-1: none) */
    int64_t position = 0;
    for (int64_t t = 0; t < n_trees; t++) {
        int64_t top = 0;
        stack[0] = roots[t];
        parents[0] = -1;
        out_roots[t] = position;
        while (top >= 0) {
            int64_t node = stack[top], parent = parents[top];
            top -= 1;
            if (position >= capacity || top + 2 > capacity) {
                free(stack);
                return -1;
            }
            if (parent >= 0)
                nodes[parent].right = (int32_t)position;
            node_t *record = &nodes[position];
            if (node < 0) {
                record->split = 0.0;
                record->right = (int32_t)(-node - 1);
                record->code = -1;
            } else {
                const int32_t *n = &flat[4 * node];
                record->split = splits[node];
                record->right = -1;
                record->code = n[0] * 2 + ((n[3] & 1) ? 1 : 0);
                top += 1; /* the right child waits; the left one is laid out next */
                stack[top] = n[2];
                parents[top] = position;
                top += 1;
                stack[top] = n[1];
                parents[top] = -1;
            }
            position += 1;
        }
    }
    free(stack);
    return position;
}

static inline void add_leaf(double *out_row, const double *leaf_values, int64_t width)
{
    for (int64_t j = 0; j < width; j++)
        out_row[j] += leaf_values[j];
}

/* Step every lane until no row is left to start (see _walk_kernel._walk_lanes); each lane's row is then
 * mid-walk or done (node -1). The lanes live in local arrays, and each keeps a pointer to its row, so a
 * step is two loads, a compare and a select: no branch waits on a turn the predictor cannot guess. */
static inline void walk_lanes(const double *restrict bases, int64_t stride, const node_t *restrict nodes,
                              const double *restrict values, int64_t width, double *restrict out, int64_t out_stride,
                              int64_t root, int64_t next_row, int64_t end, int64_t *lane_row_io,
                              int64_t *lane_node_io, const int nan_routes)
{
    int64_t lane_row[LANES], lane_node[LANES];
    const double *lane_x[LANES];
    for (int g = 0; g < LANES; g++) {
        lane_row[g] = lane_row_io[g];
        lane_node[g] = lane_node_io[g];
        lane_x[g] = bases + lane_row[g] * stride;
    }
    int filling = 1;
    while (filling) {
        for (int g = 0; g < LANES; g++) {
            int64_t node = lane_node[g];
            int64_t code = nodes[node].code;
            int64_t right = nodes[node].right;
            if (code < 0) {
                add_leaf(out + lane_row[g] * out_stride, values + right * width, width);
                if (next_row < end) {
                    lane_row[g] = next_row;
                    lane_x[g] = bases + next_row * stride;
                    lane_node[g] = root;
                    next_row++;
                } else {
                    filling = 0;
                    lane_node[g] = -1;
                }
                continue;
            }
            double x = lane_x[g][code >> 1];
            int64_t left = nan_routes ? ((x <= nodes[node].split) | ((code & 1) & (x != x))) : (x <= nodes[node].split);
            lane_node[g] = right + ((node + 1 - right) & -left); /* a select, not a branch */
        }
    }
    for (int g = 0; g < LANES; g++) {
        lane_row_io[g] = lane_row[g];
        lane_node_io[g] = lane_node[g];
    }
}

#ifdef VECTOR_WALK
#define VECTORS 6       /* vectors of 8 rows stepped side by side: enough loads in flight to cover the gathers' wait */
#define STEPS 4         /* steps between looks for lanes at a leaf: a look costs about as much as three steps */
#define VECTOR_ROWS 64  /* below this many rows in a block, the lanes would mostly idle: the scalar walk is quicker */

/* Walk rows [begin, end) through one tree, 8 rows a vector (AVX-512): each step gathers every lane's record
 * and base value and moves it by a compare and a blend, with no branch. A lane at a leaf stays there until
 * the next look, which writes its leaf to leaves[row - begin] and gives the lane the next row. Every lane
 * takes the same steps as walk_lanes, so each row reaches the same leaf. */
static void walk_tree_vectors(const node_t *nodes, int64_t root, const double *bases, int64_t stride, int64_t begin,
                              int64_t end, int nan_routes, int32_t *leaves)
{
    const char *splits = (const char *)nodes + offsetof(node_t, split);
    const char *links = (const char *)nodes + offsetof(node_t, right); /* 64 bits: right low, code high */
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), two = _mm512_set1_epi64(2);
    const __m512i lane_start = _mm512_mullo_epi64(lane, _mm512_set1_epi64(stride)); /* a lane's row's offset */
    const __m512i first = _mm512_set1_epi64(begin), zero = _mm512_setzero_si512();
    const __m512i start = _mm512_set1_epi64(2 * root); /* records are 16 bytes: indexes count 8-byte words */
    __m512i at[VECTORS], row[VECTORS], row_start[VECTORS], last_links[VECTORS];
    __mmask8 live[VECTORS], last_inner[VECTORS];
    int64_t next = begin;
    for (int v = 0; v < VECTORS; v++) {
        int64_t n = end - next < 8 ? (end - next > 0 ? end - next : 0) : 8;
        live[v] = (__mmask8)((1u << n) - 1);
        row[v] = _mm512_add_epi64(_mm512_set1_epi64(next), lane);
        row_start[v] = _mm512_add_epi64(_mm512_set1_epi64(next * stride), lane_start);
        at[v] = start;
        next += n;
    }
    for (int any = 1; any;) {
        for (int s = 0; s < STEPS; s++) {
            for (int v = 0; v < VECTORS; v++) {
                if (!live[v]) { /* a vector with no row left, as rows run out */
                    last_inner[v] = 0;
                    last_links[v] = zero;
                    continue;
                }
                __m512i link = _mm512_mask_i64gather_epi64(zero, live[v], at[v], links, 8);
                __m512d split = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), live[v], at[v], splits, 8);
                __mmask8 inner = _mm512_mask_cmpge_epi64_mask(live[v], link, zero); /* the sign is the code's */
                __m512i where = _mm512_add_epi64(row_start[v], _mm512_srai_epi64(link, 33)); /* code >> 1 */
                __m512d x = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), inner, where, bases, 8);
                __mmask8 left = _mm512_mask_cmp_pd_mask(inner, x, split, _CMP_LE_OQ);
                if (nan_routes)
                    left |= _mm512_mask_cmp_pd_mask(_mm512_mask_test_epi64_mask(inner, link, _mm512_set1_epi64(1LL << 32)),
                                                    x, x, _CMP_UNORD_Q);
                __m512i right = _mm512_srai_epi64(_mm512_slli_epi64(link, 32), 31); /* 2 * right, sign kept */
                at[v] = _mm512_mask_blend_epi64(inner, at[v], _mm512_mask_blend_epi64(left, right, _mm512_add_epi64(at[v], two)));
                last_links[v] = link;
                last_inner[v] = inner;
            }
        }
        any = 0;
        for (int v = 0; v < VECTORS; v++) { /* lanes found at a leaf in the last step: record it, take the next row */
            __mmask8 leaf = live[v] & (__mmask8)~last_inner[v];
            if (leaf) {
                __m256i value_row = _mm512_cvtepi64_epi32(last_links[v]); /* the low 32 bits: right */
                _mm512_mask_i64scatter_epi32(leaves, leaf, _mm512_sub_epi64(row[v], first), value_row, 4);
                int64_t done = __builtin_popcount(leaf), taken = end - next < done ? end - next : done;
                __mmask8 refill = (__mmask8)_pdep_u32((1u << taken) - 1, leaf); /* the first `taken` lanes done */
                row[v] = _mm512_mask_expand_epi64(row[v], refill, _mm512_add_epi64(_mm512_set1_epi64(next), lane));
                row_start[v] = _mm512_mask_expand_epi64(row_start[v], refill,
                                                        _mm512_add_epi64(_mm512_set1_epi64(next * stride), lane_start));
                at[v] = _mm512_mask_blend_epi64(refill, at[v], start);
                live[v] &= (__mmask8)~(leaf & ~refill);
                next += taken;
            }
            any |= live[v];
        }
    }
}

/* Walk a block of rows through every tree with vectors; each tree's leaf values are then added row by row,
 * so every row still sums its trees in order. */
static void walk_block_vectors(const walk_model_t *m, const double *bases, int64_t stride, int64_t begin, int64_t end,
                               double *out, int64_t out_stride, int32_t *leaves)
{
    for (int64_t t = 0; t < m->n_trees; t++) {
        int64_t target = m->trees[2 * t + 1];
        walk_tree_vectors(m->nodes, m->trees[2 * t], bases, stride, begin, end, (int)m->nan_routes, leaves);
        for (int64_t row = begin; row < end; row++)
            add_leaf(out + row * out_stride + target, m->values + (int64_t)leaves[row - begin] * m->width, m->width);
    }
}
#endif

/* How many rows the vector walk steps side by side on this build (0: it was built without AVX-512). */
int mldeploy_vector_lanes(void)
{
#ifdef VECTOR_WALK
    return 8 * VECTORS;
#else
    return 0;
#endif
}

static int use_vectors = 1; /* whether mldeploy_walk takes the vector walk where it can (mldeploy_choose_walk) */

/* Take the vector walk (on != 0) or the scalar one; both reach the same leaves. Returns the setting in force. */
int mldeploy_use_vectors(int on)
{
    use_vectors = on && mldeploy_vector_lanes() > 0;
    return use_vectors;
}

#ifdef VECTOR_WALK
/* Lay out a random tree of at most `depth` levels depth first, its leaves at uneven depths as in a fitted
 * forest (rows that finish early leave vector lanes idle); return the next record. */
static int64_t lay_out_test_tree(node_t *nodes, int64_t at, int depth, int bases, int64_t *leaf, uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    double random = (double)(*seed >> 11) / 9007199254740992.0;
    if (depth == 0 || (depth < 9 && (*seed >> 60) < 3)) { /* below the third level, a leaf 3 times in 16 */
        nodes[at] = (node_t){0.0, (int32_t)(*leaf)++, -1};
        return at + 1;
    }
    int32_t feature = (int32_t)((*seed >> 33) % (uint64_t)bases);
    int64_t right = lay_out_test_tree(nodes, at + 1, depth - 1, bases, leaf, seed);
    nodes[at] = (node_t){random, (int32_t)right, feature * 2};
    return lay_out_test_tree(nodes, right, depth - 1, bases, leaf, seed);
}

static double seconds_now(void)
{
    struct timespec now;
    timespec_get(&now, TIME_UTC);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
#endif

int mldeploy_walk(const walk_model_t *m, const double *bases, int rows, int stride, double *out, int out_stride);

/* Time both walks on a made-up forest (8 trees of up to 12 levels, 2,048 rows) and keep the quicker: gathers,
 * which the vector walk is made of, are several times slower on some processors (those with Intel's
 * microcode fix for Downfall among them). Takes about 1.5 ms; returns mldeploy_use_vectors'. */
int mldeploy_choose_walk(void)
{
#ifdef VECTOR_WALK
    enum { DEPTH = 12, TREES = 8, ROWS = 2048, BASES = 16 };
    const int64_t records = ((int64_t)2 << DEPTH) - 1, leaves = (int64_t)1 << DEPTH;
    node_t *nodes = malloc(TREES * records * sizeof(node_t));
    double *values = malloc(TREES * leaves * sizeof(double)), *bases = malloc(ROWS * BASES * sizeof(double));
    double *out = malloc(ROWS * sizeof(double));
    int64_t trees[2 * TREES], leaf = 0;
    uint64_t seed = 42;
    if (nodes == NULL || values == NULL || bases == NULL || out == NULL) {
        free(nodes), free(values), free(bases), free(out);
        return mldeploy_use_vectors(0);
    }
    for (int64_t t = 0; t < TREES; t++) {
        trees[2 * t] = t * records;
        trees[2 * t + 1] = 0;
        lay_out_test_tree(nodes, t * records, DEPTH, BASES, &leaf, &seed);
    }
    for (int64_t i = 0; i < TREES * leaves; i++)
        values[i] = (double)i;
    for (int64_t i = 0; i < ROWS * BASES; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        bases[i] = (double)(seed >> 11) / 9007199254740992.0;
    }
    walk_model_t model = {nodes, values, 1, trees, TREES, ROWS, 0};
    double best[2] = {1e30, 1e30};
    int failed = mldeploy_walk(&model, bases, ROWS, BASES, out, 1); /* touches every page first */
    for (int round = 0; round < 6 && !failed; round++) { /* alternating, best of three each */
        int on = round & 1;
        mldeploy_use_vectors(on);
        double start = seconds_now();
        failed = mldeploy_walk(&model, bases, ROWS, BASES, out, 1);
        double took = seconds_now() - start;
        best[on] = took < best[on] ? took : best[on];
    }
    free(nodes), free(values), free(bases), free(out);
    return mldeploy_use_vectors(!failed && best[1] < best[0]); /* a walk that could not allocate: the scalar one */
#else
    return mldeploy_use_vectors(0);
#endif
}

/* Add each tree's leaf values to out [rows, out_stride] at its target (see _walk_kernel.walk).
 * The counts are int: ctypes passes Python ints as int (native.py's _Scorer). */
int mldeploy_walk(const walk_model_t *m, const double *bases, int rows, int stride, double *out, int out_stride)
{
    const node_t *nodes = m->nodes;
    int64_t lane_row[LANES], lane_node[LANES];
#ifdef VECTOR_WALK
    int64_t block = rows < m->block_rows ? rows : m->block_rows; /* the biggest block: the leaves it needs */
    int vectors = use_vectors && block >= VECTOR_ROWS;
    int32_t *leaves = vectors ? malloc(block * sizeof(int32_t)) : NULL;
    if (vectors && leaves == NULL)
        return -2;
#endif
    for (int64_t begin = 0; begin < rows; begin += m->block_rows) {
        int64_t end = begin + m->block_rows < rows ? begin + m->block_rows : rows;
#ifdef VECTOR_WALK
        if (vectors && end - begin >= VECTOR_ROWS) {
            walk_block_vectors(m, bases, stride, begin, end, out, out_stride, leaves);
            continue;
        }
#endif
        int64_t lanes = end - begin < LANES ? end - begin : LANES;
        for (int64_t t = 0; t < m->n_trees; t++) {
            int64_t root = m->trees[2 * t], target = m->trees[2 * t + 1];
            for (int64_t g = 0; g < lanes; g++) {
                lane_row[g] = begin + g;
                lane_node[g] = root;
            }
            int64_t next_row = begin + lanes;
            if (next_row < end) { /* every lane has a row, and more wait */
                if (m->nan_routes)
                    walk_lanes(bases, stride, nodes, m->values, m->width, out + target, out_stride, root, next_row,
                               end, lane_row, lane_node, 1);
                else
                    walk_lanes(bases, stride, nodes, m->values, m->width, out + target, out_stride, root, next_row,
                               end, lane_row, lane_node, 0);
            }
            for (int64_t g = 0; g < lanes; g++) { /* the rows left in lanes walk alone, with a branch */
                int64_t node = lane_node[g], row = lane_row[g];
                if (node < 0)
                    continue;
                const double *x_row = bases + row * stride;
                int64_t code = nodes[node].code;
                while (code >= 0) {
                    double x = x_row[code >> 1];
                    node = (x <= nodes[node].split || ((code & 1) && x != x)) ? node + 1 : nodes[node].right;
                    code = nodes[node].code;
                }
                add_leaf(out + row * out_stride + target, m->values + (int64_t)nodes[node].right * m->width, m->width);
            }
        }
    }
#ifdef VECTOR_WALK
    free(leaves);
#endif
    return 0;
}

/* The bin of x among a base's sorted thresholds [low, high): how many lie below it; NaN has the last bin. */
static inline int64_t bin_of(double x, const double *thresholds, int64_t low, int64_t high)
{
    if (x != x)
        return high - low + 1;
    int64_t first = low;
    while (low < high) {
        int64_t middle = (low + high) >> 1;
        if (thresholds[middle] < x)
            low = middle + 1;
        else
            high = middle;
    }
    return low - first;
}

/* Score with bit vectors (see _bitvector_kernel.score) for one word size. */
#define SCORE(NAME, WORD, CTZ)                                                                                 \
    static int NAME(const bitvector_model_t *m, const double *bases, int64_t rows, int64_t stride, double *out, \
                    int64_t out_stride)                                                                        \
    {                                                                                                          \
        const WORD *masks = m->masks, *full = m->full;                                                         \
        const int64_t n_trees = m->n_trees, width = m->width;                                                  \
        WORD *alive = malloc((n_trees ? n_trees : 1) * sizeof(WORD));                                          \
        if (alive == NULL)                                                                                     \
            return -2;                                                                                         \
        for (int64_t row = 0; row < rows; row++) {                                                             \
            const double *x_row = bases + row * stride;                                                        \
            for (int64_t t = 0; t < n_trees; t++)                                                              \
                alive[t] = full[t];                                                                            \
            for (int64_t i = 0; i < m->n_used; i++) {                                                          \
                int64_t b = bin_of(x_row[m->used[i]], m->thresholds, m->threshold_starts[i],                   \
                                   m->threshold_starts[i + 1]);                                                \
                int64_t mask_row = m->mask_starts[i] + b;                                                      \
                if (!m->clears[mask_row]) /* clears no leaf: most one-hot zeros */                             \
                    continue;                                                                                  \
                const WORD *mask = masks + mask_row * n_trees;                                                 \
                for (int64_t t = 0; t < n_trees; t++)                                                          \
                    alive[t] &= mask[t];                                                                       \
            }                                                                                                  \
            double *out_row = out + row * out_stride;                                                          \
            for (int64_t t = 0; t < n_trees; t++) /* the lowest leaf left standing is the one reached */      \
                add_leaf(out_row + m->targets[t], m->values + (m->leaf_starts[t] + CTZ(alive[t])) * width, width); \
        }                                                                                                      \
        free(alive);                                                                                           \
        return 0;                                                                                              \
    }

SCORE(score32, uint32_t, __builtin_ctz)
SCORE(score64, uint64_t, __builtin_ctzll)

/* Add each tree's leaf values to out [rows, out_stride] with bit vectors; -1 for an unknown word size.
 * The counts are int: ctypes passes Python ints as int (native.py's _Scorer). */
int mldeploy_score(const bitvector_model_t *m, const double *bases, int rows, int stride, double *out, int out_stride)
{
    if (m->word_bits == 32)
        return score32(m, bases, rows, stride, out, out_stride);
    if (m->word_bits == 64)
        return score64(m, bases, rows, stride, out, out_stride);
    return -1;
}
