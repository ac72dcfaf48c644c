package dev.camkit.core

/**
 * Tile outputs blended as toolkit/fullres.py `run_tiled` blends them: per tile the weight
 * ramp_y[y] * ramp_x[x] (float64 product, float32 weight), sums of weight * output and of
 * weights in float32 over the padded frame, output = sum / weight, cropped to the photo.
 * Memory: one band of the tile height across the padded width; rows go to `emit` (in order,
 * HWC float32, the photo's width) as soon as no later tile reaches them.
 */
internal object Blend {
    fun runTiled(
        height: Int, width: Int, plan: TilePlan,
        run: (tile: TileOrigin, index: Int) -> FloatImage,
        emit: (y: Int, row: FloatArray) -> Unit,
    ) {
        val (_, pw) = Tiling.paddedSize(height, width, plan)
        val th = plan.tileH
        val tw = plan.tileW
        val tiles = Tiling.grid(height, width, plan)
        val weight = FloatArray(th * pw)
        var acc = FloatArray(0)
        var channels = 0
        var bandTop = 0
        for ((index, tile) in tiles.withIndex()) {
            if (channels > 0 && tile.top > bandTop) {
                flush(acc, weight, channels, pw, width, bandTop, minOf(tile.top, height) - bandTop, emit)
                shift(acc, weight, channels, pw, th, tile.top - bandTop)
                bandTop = tile.top
            }
            val out = run(tile, index)
            ensure(out.height == th && out.width == tw) {
                "the model returned ${out.height}x${out.width} for a ${th}x$tw tile; tiling needs same-size outputs"
            }
            if (channels == 0) {
                channels = out.channels
                acc = FloatArray(th * pw * channels)
            }
            ensure(out.channels == channels) { "the model returned ${out.channels} channels, then $channels" }
            add(acc, weight, channels, pw, plan, tile, out)
        }
        flush(acc, weight, channels, pw, width, bandTop, minOf(height - bandTop, th), emit)
    }

    private fun add(acc: FloatArray, weight: FloatArray, c: Int, pw: Int, plan: TilePlan, tile: TileOrigin, out: FloatImage) {
        val wy = Tiling.ramp(plan.tileH, tile.leadY, tile.trailY, plan.margin, plan.blend)
        val wx = Tiling.ramp(plan.tileW, tile.leadX, tile.trailX, plan.margin, plan.blend)
        val data = out.data
        for (y in 0 until plan.tileH) {
            for (x in 0 until plan.tileW) {
                val w = (wy[y] * wx[x]).toFloat()
                val at = y * pw + tile.left + x
                weight[at] += w
                val src = (y * plan.tileW + x) * c
                for (ch in 0 until c) acc[at * c + ch] += data[src + ch] * w
            }
        }
    }

    private fun flush(
        acc: FloatArray, weight: FloatArray, c: Int, pw: Int, width: Int, top: Int, rows: Int,
        emit: (Int, FloatArray) -> Unit,
    ) {
        for (r in 0 until rows) {
            val row = FloatArray(width * c)
            for (x in 0 until width) {
                val w = weight[r * pw + x]
                ensure(w > 0f) { "tile weights left pixel (${top + r}, $x) uncovered; report this plan as a bug" }
                for (ch in 0 until c) row[x * c + ch] = acc[(r * pw + x) * c + ch] / w
            }
            emit(top + r, row)
        }
    }

    private fun shift(acc: FloatArray, weight: FloatArray, c: Int, pw: Int, th: Int, shift: Int) {
        val keep = maxOf(0, th - shift)
        System.arraycopy(weight, shift * pw, weight, 0, keep * pw)
        weight.fill(0f, keep * pw, th * pw)
        System.arraycopy(acc, shift * pw * c, acc, 0, keep * pw * c)
        acc.fill(0f, keep * pw * c, th * pw * c)
    }
}
