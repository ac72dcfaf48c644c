package dev.camkit.demo.ui

import dev.camkit.core.Backend
import dev.camkit.core.CamkitException
import dev.camkit.core.FullResolution
import dev.camkit.core.Image
import dev.camkit.core.Manifest
import dev.camkit.core.ModelRunner
import dev.camkit.core.Packing
import dev.camkit.core.RunnerFactory

/** What one photo run took, for the screen. */
class PhotoResult(val output: Image, val loadMs: Double, val processMs: Double, val how: String)

/**
 * One photo through an artifact at full resolution: directly when the photo is the size the
 * artifact takes (or the artifact takes any size), else by the manifest's full_resolution plan
 * (:core's FullResolution: tiles, thumbnails, the statistics pass of a split by tiles).
 */
object PhotoRun {
    fun run(
        photo: Image, manifest: Manifest, factory: RunnerFactory, backend: Backend, strict: Boolean,
        onProgress: (String) -> Unit,
    ): PhotoResult {
        val direct = fitsDirectly(photo, manifest)
        if (!direct && manifest.fullResolution == null) {
            val io = manifest.inputs.firstOrNull { it.role == "image" } ?: manifest.inputs.first()
            throw CamkitException(
                "${manifest.file.name} has no full_resolution plan and takes ${io.width}x${io.height} images; " +
                    "pick a photo of that size or re-export the artifact with camkit",
            )
        }
        onProgress("loading ${manifest.artifactFile} on ${backend.id}")
        val t0 = System.nanoTime()
        val runner = factory.load(manifest.artifact(), manifest, backend, strict)
        var features: ModelRunner? = null
        try {
            if (!direct) features = manifest.features()?.let { factory.load(it, manifest, backend, strict) }
            val loadMs = (System.nanoTime() - t0) / 1e6
            val t1 = System.nanoTime()
            val output = if (direct) {
                onProgress("running ${photo.width}x${photo.height}")
                runDirect(photo, manifest, runner)
            } else {
                FullResolution(manifest).process(photo, runner, features) { done, total ->
                    onProgress("tile $done of $total")
                }
            }
            val how = if (direct) "one pass" else "full_resolution ${manifest.fullResolution!!.strategy}"
            return PhotoResult(output, loadMs, (System.nanoTime() - t1) / 1e6, how)
        } finally {
            features?.close()
            runner.close()
        }
    }

    /** Every input is an image input of the photo's size (or of any size). */
    private fun fitsDirectly(photo: Image, manifest: Manifest): Boolean = manifest.inputs.all { io ->
        io.role == "image" && (io.height == -1 || io.height == photo.height) && (io.width == -1 || io.width == photo.width)
    }

    private fun runDirect(photo: Image, manifest: Manifest, runner: ModelRunner): Image {
        val feeds = manifest.inputs.associate { it.name to Packing.pack(photo, it) }
        val output = manifest.outputs.firstOrNull { it.role == "image" } ?: manifest.outputs.first()
        val outs = runner.run(feeds)
        val tensor = outs[output.name]
            ?: throw CamkitException("the artifact returned no '${output.name}' (it returned ${outs.keys.joinToString()})")
        return Packing.unpack(tensor, output)
    }
}
