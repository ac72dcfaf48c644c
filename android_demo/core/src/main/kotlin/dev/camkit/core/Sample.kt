package dev.camkit.core

/**
 * A manifest's sample as the benchmark uses it: [feeds] (each input in the artifact's dtype:
 * the sample's float32 quantized for a uint8 input), the torch [references] per output
 * (float32, the artifact's layout), and the first image input as pixels ([image], for timing
 * pre-processing) with the tensor it feeds ([imageIo]).
 */
class SampleData(
    val feeds: Map<String, Tensor>,
    val references: Map<String, FloatArray>,
    val image: Image?,
    val imageIo: TensorIo?,
) {
    companion object {
        /** The sample [manifest] names; without one, mid-grey inputs (and no references). */
        fun read(manifest: Manifest): SampleData {
            val file = manifest.sample() ?: return synthetic(manifest)
            val arrays = Npz.read(file)
            val feeds = LinkedHashMap<String, Tensor>()
            for (io in manifest.inputs) {
                val t = arrays["in/${io.name}"]
                    ?: throw CamkitException("sample ${file.name} has no 'in/${io.name}'; re-export the artifact")
                ensure(t.shape.size == io.shape.size && io.shape.indices.all { io.shape[it] < 0 || io.shape[it] == t.shape[it] }) {
                    "sample ${file.name} holds ${io.name} of shape ${t.shape.toList()}, the manifest says ${io.shape}; re-export"
                }
                feeds[io.name] = Packing.toDtype(t, io)
            }
            val references = manifest.outputs.mapNotNull { io ->
                arrays["out/${io.name}"]?.let { io.name to it.toFloats(io.quantization) }
            }.toMap()
            val imageIo = manifest.inputs.firstOrNull { it.role == "image" && (it.channels == 1 || it.channels == 3) }
            val image = imageIo?.let {
                Packing.toImage(Packing.unpackFloats(arrays.getValue("in/${it.name}"), it))
            }
            return SampleData(feeds, references, image, imageIo)
        }

        private fun synthetic(manifest: Manifest): SampleData {
            val feeds = manifest.inputs.associate { io ->
                ensure(io.shape.all { it > 0 }) {
                    "${manifest.file.name} names no sample and '${io.name}' has a dynamic shape ${io.shape}; re-export with a sample"
                }
                val values = Tensor(io.shape.toIntArray(), floats = FloatArray(io.shape.reduce(Int::times)) { 0.5f })
                io.name to Packing.toDtype(values, io)
            }
            return SampleData(feeds, emptyMap(), null, null)
        }
    }
}
