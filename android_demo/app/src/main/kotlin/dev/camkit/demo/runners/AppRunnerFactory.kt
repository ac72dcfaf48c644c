package dev.camkit.demo.runners

import android.content.Context
import dev.camkit.core.Backend
import dev.camkit.core.CamkitException
import dev.camkit.core.Manifest
import dev.camkit.core.ModelRunner
import dev.camkit.core.RunnerFactory
import dev.camkit.core.StatisticsPass
import dev.camkit.core.TensorIo
import java.io.File

/** CPU threads for the CPU paths of both runtimes (LiteRT CPU/XNNPACK, ORT CPU and XNNPACK). */
const val CPU_THREADS = 4

/**
 * The app's [RunnerFactory]: LiteRT's CompiledModel for the litert-* backends, ONNX Runtime
 * for the ort-* ones. Refuses an artifact whose format the backend does not run.
 */
class AppRunnerFactory(context: Context) : RunnerFactory {
    private val litert = LiteRtRunnerFactory(context.applicationContext)
    private val ort = OrtRunnerFactory(context.applicationContext)

    override fun load(artifact: File, manifest: Manifest, backend: Backend, strict: Boolean): ModelRunner {
        if (backend.format != manifest.format) {
            val fits = Backend.forFormat(manifest.format).joinToString { it.id }
            throw CamkitException(
                "${backend.id} runs ${backend.format} artifacts but ${manifest.file.name} is ${manifest.format}; " +
                    "pick one of: ${fits.ifEmpty { "none (the app runs litert and onnx artifacts)" }}",
            )
        }
        return when (backend.runtime) {
            "litert" -> litert.load(artifact, manifest, backend, strict)
            "onnxruntime" -> ort.load(artifact, manifest, backend, strict)
            else -> throw CamkitException("backend ${backend.id} has runtime ${backend.runtime}, which this app does not carry")
        }
    }
}

/** The inputs and outputs of one artifact of a manifest: the artifact itself, or the features
 * artifact of a split by tiles (its io from `full_resolution.statistics`, as :core's
 * StatisticsPass feeds it). */
internal class ArtifactIo(val inputs: List<TensorIo>, val outputs: List<TensorIo>) {
    companion object {
        fun of(artifact: File, manifest: Manifest): ArtifactIo {
            if (same(artifact, manifest.artifact())) return ArtifactIo(manifest.inputs, manifest.outputs)
            val stats = manifest.fullResolution?.statistics
            val features = manifest.features()
            if (features != null && stats != null && same(artifact, features)) {
                val (inputs, output) = StatisticsPass.featuresIo(stats)
                return ArtifactIo(inputs, listOf(output))
            }
            throw CamkitException(
                "${artifact.name} is neither the artifact nor the features artifact of ${manifest.file.name}",
            )
        }

        private fun same(a: File, b: File): Boolean = a.canonicalPath == b.canonicalPath
    }
}
