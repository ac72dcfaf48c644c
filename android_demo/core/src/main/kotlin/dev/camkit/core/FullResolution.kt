package dev.camkit.core

/**
 * A photo of any size through a fixed-size artifact by its manifest's `full_resolution` plan
 * (toolkit/fullres.py `apply_plan`): "tiles" and "split" (tiles of the artifact's size,
 * reflected past the photo, blended; a split's thumbnails made once per photo, or its
 * statistics vector from the features artifact over the photo, fed with every tile), "whole"
 * (a dynamic artifact: the photo reflected up to the size multiple), "resize" (lossy).
 * The app feeds photos: an artifact that takes a mask is refused.
 */
class FullResolution(val plan: FullResolutionPlan, val inputs: List<TensorIo>, val outputs: List<TensorIo>) {
    /** The plan of [manifest]. */
    constructor(manifest: Manifest) : this(
        manifest.fullResolution
            ?: throw CamkitException("${manifest.file.name} has no full_resolution plan; re-export it with camkit"),
        manifest.inputs, manifest.outputs,
    )

    /** The output shown: the first with role "image", else the first. */
    val output: TensorIo

    init {
        ensure(plan.version == FullResolutionPlan.VERSION) {
            "full_resolution plan version ${plan.version} is not one this app reads (${FullResolutionPlan.VERSION}); update the app or re-export"
        }
        ensure(plan.strategy in STRATEGIES) {
            "full_resolution strategy '${plan.strategy}' is not one this app runs (${STRATEGIES.joinToString()}); update the app"
        }
        for (io in inputs) ensure(io.role in ROLES) {
            "input '${io.name}' has role '${io.role}'; the app feeds photos (${ROLES.joinToString()}), not masks"
        }
        ensure(inputs.any { it.role == "image" }) { "the artifact takes no image input; the app has nothing to feed" }
        ensure(outputs.isNotEmpty()) { "the artifact has no outputs" }
        output = outputs.firstOrNull { it.role == "image" } ?: outputs.first()
    }

    /** [photo] through [runner] (and [features], a split by tiles' features artifact), as
     * pixels; [onTile] (done, total) reports progress. */
    fun process(photo: Image, runner: ModelRunner, features: ModelRunner? = null, onTile: ((Int, Int) -> Unit)? = null): Image {
        val argb = IntArray(photo.width * photo.height)
        processRows(photo, runner, features, onTile) { y, row ->
            val c = row.size / photo.width
            for (x in 0 until photo.width) {
                val r = Packing.toByte(row[x * c])
                val g = if (c >= 3) Packing.toByte(row[x * c + 1]) else r
                val b = if (c >= 3) Packing.toByte(row[x * c + 2]) else r
                argb[y * photo.width + x] = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
            }
        }
        return Image(photo.width, photo.height, argb)
    }

    /** As [process], handing each finished row (HWC float32, the photo's width, not clamped)
     * to [emit] in order instead of making pixels. */
    fun processRows(
        photo: Image, runner: ModelRunner, features: ModelRunner? = null,
        onTile: ((Int, Int) -> Unit)? = null, emit: (y: Int, row: FloatArray) -> Unit,
    ) {
        when (plan.strategy) {
            "tiles", "split" -> tiled(photo, runner, features, onTile, emit)
            "whole" -> whole(photo, runner, emit).also { onTile?.invoke(1, 1) }
            else -> resized(photo, runner, emit).also { onTile?.invoke(1, 1) }
        }
    }

    private fun tiled(photo: Image, runner: ModelRunner, features: ModelRunner?, onTile: ((Int, Int) -> Unit)?,
                      emit: (Int, FloatArray) -> Unit) {
        val tiles = plan.tiles!!
        val grid = Tiling.grid(photo.height, photo.width, tiles).size
        val statTiles = if (inputs.any { it.role == "statistics" } && plan.statistics != null)
            StatisticsPass.tiles(photo.height, photo.width, plan.statistics).size else 0
        val total = statTiles + grid
        val extras = extraInputs(photo, features) { done, _ -> onTile?.invoke(done, total) }
        Blend.runTiled(photo.height, photo.width, tiles, { tile, index ->
            val feeds = HashMap(extras)
            for (io in inputs.filter { it.role == "image" }) {
                feeds[io.name] = Packing.packFloats(
                    Tiling.cropReflected(photo, tile.top, tile.left, tiles.tileH, tiles.tileW, io.channels), io)
            }
            runOnce(runner, feeds).also { onTile?.invoke(statTiles + index + 1, total) }
        }, emit)
    }

    /** Thumbnails and the statistics vector, packed once per photo. */
    private fun extraInputs(photo: Image, features: ModelRunner?, onTile: (Int, Int) -> Unit): Map<String, Tensor> {
        val out = HashMap<String, Tensor>()
        for (io in inputs) when (io.role) {
            "thumbnail" -> {
                val entry = plan.thumbnails.firstOrNull { it.input == io.name }
                    ?: throw CamkitException("the plan has no thumbnail entry for input '${io.name}'; re-export")
                out[io.name] = Packing.packFloats(Thumbnails.make(photo, entry, io.channels), io)
            }
            "statistics" -> {
                val entry = plan.statistics
                    ?: throw CamkitException("input '${io.name}' takes statistics but the plan has no statistics block; re-export")
                ensure(features != null) { "input '${io.name}' takes the photo's statistics: load the features artifact too" }
                val vector = StatisticsPass.run(photo, entry, features!!, onTile)
                out[io.name] = Packing.packFloats(FloatImage(1, 1, vector.size, vector), io)
            }
        }
        return out
    }

    private fun whole(photo: Image, runner: ModelRunner, emit: (Int, FloatArray) -> Unit) {
        val m = plan.sizeMultiple ?: 1
        val (ph, pw) = (photo.height + m - 1) / m * m to (photo.width + m - 1) / m * m
        val feeds = inputs.associate { it.name to Packing.packFloats(Tiling.cropReflected(photo, 0, 0, ph, pw, it.channels), it) }
        emitCropped(runOnce(runner, feeds), photo.height, photo.width, emit)
    }

    private fun resized(photo: Image, runner: ModelRunner, emit: (Int, FloatArray) -> Unit) {
        val size = plan.resizeTo
        ensure(size != null && size.size == 2) { "the resize plan has no size [height, width]; re-export" }
        val feeds = inputs.associate {
            val small = Resample.resize(Packing.toFloatImage(photo, it.channels), size!![0], size[1], "area")
            it.name to Packing.packFloats(small, it)
        }
        emitCropped(Resample.resize(runOnce(runner, feeds), photo.height, photo.width, "bicubic"), photo.height, photo.width, emit)
    }

    private fun emitCropped(out: FloatImage, height: Int, width: Int, emit: (Int, FloatArray) -> Unit) {
        ensure(out.height >= height && out.width >= width) {
            "the model returned ${out.height}x${out.width} for a ${height}x$width photo"
        }
        val c = out.channels
        for (y in 0 until height) emit(y, out.data.copyOfRange(y * out.width * c, (y * out.width + width) * c))
    }

    private fun runOnce(runner: ModelRunner, feeds: Map<String, Tensor>): FloatImage {
        val outs = runner.run(feeds)
        val tensor = outs[output.name]
            ?: throw CamkitException("the artifact returned no '${output.name}' (it returned ${outs.keys.joinToString()})")
        return Packing.unpackFloats(tensor, output)
    }

    private companion object {
        val STRATEGIES = listOf("tiles", "split", "whole", "resize")
        val ROLES = listOf("image", "thumbnail", "statistics")
    }
}
