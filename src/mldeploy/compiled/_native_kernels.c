/* The tree walker's kernels in C: the same steps as _walk_kernel.py and _bitvector_kernel.py.
 *
 * mldeploy builds this file with the machine's C compiler the first time a walker needs it
 * (compiled/native.py) and calls it through ctypes, which releases the GIL for each call.
 * A score is a sum of leaf values in tree order, with no multiplication and no reordering
 * (built with -ffp-contract=off, without -ffast-math), so the results are the numba kernels'
 * to the bit. The arrays are checked in Python before a kernel sees them.
 */
#include <stdint.h>
#include <stdlib.h>

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

/* Add each tree's leaf values to out [rows, out_stride] at its target (see _walk_kernel.walk).
 * The counts are int: ctypes passes Python ints as int (native.py's _Scorer). */
int mldeploy_walk(const walk_model_t *m, const double *bases, int rows, int stride, double *out, int out_stride)
{
    const node_t *nodes = m->nodes;
    int64_t lane_row[LANES], lane_node[LANES];
    for (int64_t begin = 0; begin < rows; begin += m->block_rows) {
        int64_t end = begin + m->block_rows < rows ? begin + m->block_rows : rows;
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
