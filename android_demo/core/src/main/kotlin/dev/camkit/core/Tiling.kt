package dev.camkit.core

/** A tile's origin in the padded frame, and whether its rows / columns have a neighbour
 * before ([leadY], [leadX]) and after ([trailY], [trailX]) it. */
data class TileOrigin(
    val top: Int, val left: Int, val leadY: Boolean, val trailY: Boolean, val leadX: Boolean, val trailX: Boolean,
)

/** The tile geometry of toolkit/fullres.py: grid, reflection, ramps. */
object Tiling {
    /** Tile origins along a side of [length]: 0, step, 2 step, ... below length - tile, then
     * length - tile; step = floor((tile - overlap) / align) * align; one at 0 when it fits. */
    fun starts(length: Int, tile: Int, overlap: Int, align: Int = 1): List<Int> {
        if (length <= tile) return listOf(0)
        val step = (tile - overlap) / align * align
        ensure(step > 0) { "tile $tile leaves no step after an overlap of $overlap" }
        return (0 until length - tile step step).toList() + (length - tile)
    }

    /** The photo's size after reflection up to the tile size and the alignment multiple. */
    fun paddedSize(height: Int, width: Int, plan: TilePlan): Pair<Int, Int> {
        val a = plan.align
        return maxOf(plan.tileH, (height + a - 1) / a * a) to maxOf(plan.tileW, (width + a - 1) / a * a)
    }

    /** Every tile of a [height] x [width] photo, row by row (origins in the padded frame). */
    fun grid(height: Int, width: Int, plan: TilePlan): List<TileOrigin> {
        val (ph, pw) = paddedSize(height, width, plan)
        val tops = starts(ph, plan.tileH, plan.overlap, plan.align)
        val lefts = starts(pw, plan.tileW, plan.overlap, plan.align)
        return tops.flatMap { top ->
            lefts.map { left -> TileOrigin(top, left, top > 0, top < tops.last(), left > 0, left < lefts.last()) }
        }
    }

    /** Weights of a tile side: 0 over [margin], then (k + 0.5) / [blend], then 1, at an end
     * with a neighbour ([lead]: the start, [trail]: the end); 1 at an end on the photo's border. */
    fun ramp(size: Int, lead: Boolean, trail: Boolean, margin: Int, blend: Int): DoubleArray {
        val w = DoubleArray(size) { 1.0 }
        if (lead) {
            for (i in 0 until margin) w[i] = 0.0
            for (k in 0 until blend) w[margin + k] = minOf(w[margin + k], (k + 0.5) / blend)
        }
        if (trail) {
            for (i in size - margin until size) w[i] = 0.0
            for (k in 0 until blend) {
                val i = size - margin - 1 - k
                w[i] = minOf(w[i], (k + 0.5) / blend)
            }
        }
        return w
    }

    /** [index] folded into 0 until [length] by reflection without repeating the edge. */
    fun reflectIndex(index: Int, length: Int): Int {
        if (length == 1) return 0
        val period = 2 * (length - 1)
        val m = Math.floorMod(index, period)
        return if (m >= length) period - m else m
    }

    /** The [height] x [width] crop at ([top], [left]) of [photo] reflected past its borders,
     * as HWC float32 x / 255 with [channels] 3 (RGB) or 1 (red). */
    fun cropReflected(photo: Image, top: Int, left: Int, height: Int, width: Int, channels: Int = 3): FloatImage {
        val cols = IntArray(width) { reflectIndex(left + it, photo.width) }
        val data = FloatArray(height * width * channels)
        var k = 0
        for (y in 0 until height) {
            val row = reflectIndex(top + y, photo.height) * photo.width
            for (x in 0 until width) {
                val p = photo.argb[row + cols[x]]
                data[k++] = ((p shr 16) and 0xFF).toFloat() / 255f
                if (channels == 3) {
                    data[k++] = ((p shr 8) and 0xFF).toFloat() / 255f
                    data[k++] = (p and 0xFF).toFloat() / 255f
                }
            }
        }
        return FloatImage(height, width, channels, data)
    }
}
