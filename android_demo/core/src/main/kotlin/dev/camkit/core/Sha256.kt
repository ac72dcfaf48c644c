package dev.camkit.core

import java.io.File
import java.security.MessageDigest

/** sha256 as camkit computes it (toolkit/artifacts.py `sha256_path`). */
object Sha256 {
    /** Hex sha256 of a file, or of a folder: each file's relative path then its bytes, the
     * files sorted by path components. */
    fun of(path: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
        if (path.isFile) {
            update(digest, path)
        } else {
            val files = path.walkTopDown().filter { it.isFile }
                .map { it.relativeTo(path).invariantSeparatorsPath }.toList()
                .sortedWith { a, b -> compareParts(a.split('/'), b.split('/')) }
            for (rel in files) {
                digest.update(rel.toByteArray(Charsets.UTF_8))
                update(digest, File(path, rel))
            }
        }
        return hex(digest.digest())
    }

    /** Hex sha256 of [bytes]. */
    fun of(bytes: ByteArray): String = hex(MessageDigest.getInstance("SHA-256").digest(bytes))

    private fun update(digest: MessageDigest, file: File) {
        file.inputStream().use { input ->
            val buffer = ByteArray(1 shl 20)
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                digest.update(buffer, 0, n)
            }
        }
    }

    private fun compareParts(a: List<String>, b: List<String>): Int {
        for (i in 0 until minOf(a.size, b.size)) {
            val c = a[i].compareTo(b[i])
            if (c != 0) return c
        }
        return a.size - b.size
    }

    private fun hex(bytes: ByteArray): String = bytes.joinToString("") { "%02x".format(it) }
}
