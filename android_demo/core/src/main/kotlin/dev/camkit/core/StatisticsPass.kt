package dev.camkit.core

/** Along one side: a statistics tile at [origin] and the tile features [first] until [end]
 * it contributes. */
data class FeatureSpan(val origin: Int, val first: Int, val end: Int)

/** One tile of the statistics pass, in run order: [rows] and [cols] are its spans. */
data class StatisticsTile(val index: Int, val rows: FeatureSpan, val cols: FeatureSpan) {
    val top: Int get() = rows.origin
    val left: Int get() = cols.origin
}

/**
 * A split by tiles' statistics (toolkit/fullres.py `statistics_pass`): the features artifact
 * over the photo by tiles (zeros past the photo), each photo feature taken once from a tile
 * holding its receptive field, averaged (float64 sums in run order) into one vector.
 */
object StatisticsPass {
    /** The spans along a side of [length] (toolkit/fullres.py `_feature_spans`). */
    fun spans(length: Int, tile: Int, stride: Int, before: Int, after: Int, step: Int): List<FeatureSpan> {
        ensure(step > 0 && stride > 0) { "statistics step $step and stride $stride must be positive" }
        val count = (length + stride - 1) / stride
        val origins = (0 until maxOf(1, length - tile + 1) step step).toMutableList()
        val last = (maxOf(0, length - tile) + stride - 1) / stride * stride
        if (origins.last() < last) origins.add(last)
        val n = tile / stride
        val spans = ArrayList<FeatureSpan>()
        var done = 0
        for (y0 in origins) {
            val first = if (y0 == 0) 0 else (before + stride - 1) / stride
            val end = if (y0 + tile >= length) n else (tile - 1 - after) / stride + 1
            val lo = y0 / stride + first
            val hi = minOf(count, y0 / stride + end)
            ensure(lo <= done) { "statistics tiles leave features $done..${lo - 1} uncovered (step $step, tile $tile); report it" }
            if (hi > done) {
                spans.add(FeatureSpan(y0, done - y0 / stride, hi - y0 / stride))
                done = hi
            }
        }
        ensure(done >= count) { "statistics tiles cover $done of $count features; report it" }
        return spans
    }

    /** The statistics tiles of a [height] x [width] photo, row by row. */
    fun tiles(height: Int, width: Int, entry: StatisticsEntry): List<StatisticsTile> {
        val rows = spans(height, entry.tileH, entry.stride, entry.before, entry.after, entry.stepH)
        val cols = spans(width, entry.tileW, entry.stride, entry.before, entry.after, entry.stepW)
        return rows.flatMap { r -> cols.map { c -> r to c } }.mapIndexed { i, (r, c) -> StatisticsTile(i, r, c) }
    }

    /** The [entry.tileH] x [entry.tileW] crop of [photo] at [tile], zeros past the photo. */
    fun crop(photo: Image, tile: StatisticsTile, entry: StatisticsEntry, channels: Int = 3): FloatImage {
        val (th, tw) = entry.tileH to entry.tileW
        val data = FloatArray(th * tw * channels)
        for (y in 0 until minOf(th, photo.height - tile.top)) {
            for (x in 0 until minOf(tw, photo.width - tile.left)) {
                for (c in 0 until channels) {
                    data[(y * tw + x) * channels + c] = photo.channel(tile.top + y, tile.left + x, c).toFloat() / 255f
                }
            }
        }
        return FloatImage(th, tw, channels, data)
    }

    /** The features artifact's io: the plan's, else NHWC float32 tensors named by the plan. */
    fun featuresIo(entry: StatisticsEntry, channels: Int = 3): Pair<List<TensorIo>, TensorIo> {
        val inputs = entry.artifactInputs ?: entry.inputs.map {
            TensorIo(it, listOf(1, entry.tileH, entry.tileW, channels), "float32", null, "nhwc",
                listOf(0.0, 1.0), "srgb", "image", null)
        }
        val output = entry.artifactOutputs?.firstOrNull()
            ?: TensorIo(entry.output, listOf(1, -1, -1, -1), "float32", null, "nhwc", null, null, "features", null)
        return inputs to output
    }

    /** The photo's statistics vector: [features] (the features artifact) over [photo]. */
    fun run(photo: Image, entry: StatisticsEntry, features: ModelRunner, onTile: ((Int, Int) -> Unit)? = null): FloatArray {
        val (inputs, output) = featuresIo(entry)
        val tiles = tiles(photo.height, photo.width, entry)
        var total = DoubleArray(0)
        var count = 0L
        for (tile in tiles) {
            val feeds = inputs.associate { io -> io.name to Packing.packFloats(crop(photo, tile, entry, io.channels), io) }
            val outs = features.run(feeds)
            val result = outs[output.name]
                ?: throw CamkitException("the features artifact returned no '${output.name}' (it returned ${outs.keys})")
            val f = Packing.unpackFloats(result, output)
            if (total.isEmpty()) total = DoubleArray(f.channels)
            val (r, c) = tile.rows to tile.cols
            ensure(r.end <= f.height && c.end <= f.width) {
                "the features artifact returned ${f.height}x${f.width} features; the plan reads up to ${r.end}x${c.end}"
            }
            val part = DoubleArray(f.channels)
            for (y in r.first until r.end) for (x in c.first until c.end) {
                for (ch in 0 until f.channels) part[ch] += f.data[(y * f.width + x) * f.channels + ch].toDouble()
            }
            for (ch in part.indices) total[ch] += part[ch]
            count += (r.end - r.first).toLong() * (c.end - c.first)
            onTile?.invoke(tile.index + 1, tiles.size)
        }
        return FloatArray(total.size) { (total[it] / count).toFloat() }
    }
}
