package dev.camkit.demo

import android.content.Context
import dev.camkit.core.CamkitException
import dev.camkit.core.Manifest
import java.io.File

/**
 * The app's model storage: `camkit app push` copies artifacts, features artifacts, manifests and
 * samples flat into `<external files>/camkit/artifacts/` (on most phones
 * /sdcard/Android/data/dev.camkit.demo/files/camkit/artifacts/), and results go to
 * `<external files>/camkit/results/`, where `camkit profile android-app` pulls them.
 */
class ModelStore(context: Context) {
    private val root = File(context.getExternalFilesDir(null) ?: context.filesDir, "camkit")
    val artifactsDir = File(root, "artifacts")
    val resultsDir = File(root, "results")

    /** One manifest in storage: read (without hashing its files, which a run does) or why not. */
    class Entry(val file: File, val manifest: Manifest?, val problem: String?) {
        val name: String get() = file.name
    }

    /** Every `*.manifest.json` in storage, by name; Core ML manifests are left out (iOS only). */
    fun list(): List<Entry> {
        val files = artifactsDir.listFiles { f -> f.isFile && f.name.endsWith(MANIFEST_SUFFIX) }.orEmpty()
        return files.sortedBy { it.name }.mapNotNull { file ->
            try {
                Manifest.read(file, verifySha256 = false).takeIf { it.format in FORMATS }?.let { Entry(file, it, null) }
            } catch (e: CamkitException) {
                Entry(file, null, e.message)
            }
        }
    }

    /** The manifest called [name] in storage, its artifact, features artifact and sample
     * checked against their sha256. [name] is a file name, never a path. */
    fun read(name: String): Manifest {
        if (name.isBlank() || '/' in name || name.startsWith(".")) {
            throw CamkitException("manifest must be a file name in ${artifactsDir.path}, got '$name'")
        }
        val file = File(artifactsDir, name)
        if (!file.isFile) {
            val there = list().joinToString { it.name }.ifEmpty { "none" }
            throw CamkitException("no manifest $name in the app's storage (there: $there); push it with 'camkit app push'")
        }
        return Manifest.read(file)
    }

    /** Writes [text] to results/[name] atomically: `<name>.partial` first, then a rename, so
     * the host never pulls half a file. */
    fun writeResult(name: String, text: String): File {
        resultsDir.mkdirs()
        val partial = File(resultsDir, "$name.partial")
        val target = File(resultsDir, name)
        partial.writeText(text)
        if (!partial.renameTo(target)) {
            target.delete()
            if (!partial.renameTo(target)) throw CamkitException("could not rename ${partial.path} to ${target.name}")
        }
        return target
    }

    companion object {
        const val MANIFEST_SUFFIX = ".manifest.json"
        /** The artifact formats this app runs. */
        val FORMATS = setOf("litert", "onnx")
    }
}
