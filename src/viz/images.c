/* Image grids: not built yet. */
#include <neuromorph/viz.h>

nm_status nm_plot_images(const nm_plot *p, const nm_image *im, int n, int cols, nm_cmap cmap, float vmin,
                         float vmax, const char *path) {
    (void)p, (void)im, (void)n, (void)cols, (void)cmap, (void)vmin, (void)vmax, (void)path;
    return NM_UNSUPPORTED;
}
