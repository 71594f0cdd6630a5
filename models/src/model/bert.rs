//! A BERT encoder classifier, generic over the burn backend: embeddings with LayerNorm, post-norm
//! encoder layers (masked self-attention, GELU feed-forward), pooler, dropout, classifier head.
//! It computes exactly what Hugging Face's `BertForSequenceClassification` computes.

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::activation::tanh;

use super::exact::{gelu, softmax, Norm};
use super::fused::dropout;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::config::BertConfig;
use crate::text::BatchInput;

#[derive(Module, Debug)]
pub struct Embeddings<B: Backend> {
    pub word: Embedding<B>,
    pub position: Embedding<B>,
    pub token_type: Embedding<B>,
    pub norm: Norm<B>,
    pub dropout: Dropout,
}

#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub attn_out: Linear<B>,
    pub attn_norm: Norm<B>,
    pub intermediate: Linear<B>,
    pub output: Linear<B>,
    pub out_norm: Norm<B>,
    pub dropout: Dropout,
    pub attn_dropout: Dropout,
    pub heads: usize,
}

#[derive(Module, Debug)]
pub struct BertClassifier<B: Backend> {
    pub embeddings: Embeddings<B>,
    pub layers: Vec<Layer<B>>,
    pub pooler: Linear<B>,
    pub dropout: Dropout,
    pub classifier: Linear<B>,
}

/// Everything one forward pass yields.
pub struct Forward<B: Backend> {
    /// [batch, seq, hidden]
    pub hidden: Tensor<B, 3>,
    /// [batch, labels]
    pub logits: Tensor<B, 2>,
}

impl<B: Backend> BertClassifier<B> {
    /// A model with this architecture and `num_labels` outputs, all weights zero (LayerNorm
    /// scales one); `hf::load` or `hf::init_random` fill them. Zeros on purpose: burn's random
    /// initialisers draw from the backend's process-wide generator, which would perturb the
    /// dropout masks of a model training concurrently in the same process.
    pub fn new(cfg: &BertConfig, num_labels: usize, device: &B::Device) -> Self {
        let h = cfg.hidden_size;
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, h)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let norm = || Norm::new(h, cfg.layer_norm_eps, device);
        let hidden_dropout = || DropoutConfig::new(cfg.hidden_dropout_prob).init();
        let layers = (0..cfg.num_hidden_layers)
            .map(|_| Layer {
                query: linear(h, h),
                key: linear(h, h),
                value: linear(h, h),
                attn_out: linear(h, h),
                attn_norm: norm(),
                intermediate: linear(h, cfg.intermediate_size),
                output: linear(cfg.intermediate_size, h),
                out_norm: norm(),
                dropout: hidden_dropout(),
                attn_dropout: DropoutConfig::new(cfg.attention_probs_dropout_prob).init(),
                heads: cfg.num_attention_heads,
            })
            .collect();
        BertClassifier {
            embeddings: Embeddings {
                word: embedding(cfg.vocab_size),
                position: embedding(cfg.max_position_embeddings),
                token_type: embedding(cfg.type_vocab_size),
                norm: norm(),
                dropout: hidden_dropout(),
            },
            layers,
            pooler: linear(h, h),
            dropout: hidden_dropout(),
            classifier: linear(h, num_labels),
        }
    }

    /// Use this dropout probability everywhere (the manifest's `dropout` overrides config.json).
    pub fn set_dropout(&mut self, p: f64) {
        let d = || DropoutConfig::new(p).init();
        self.embeddings.dropout = d();
        self.dropout = d();
        for l in &mut self.layers {
            l.dropout = d();
            l.attn_dropout = d();
        }
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    pub fn forward(&self, input: &BatchInput<B>) -> Forward<B> {
        let x = self.encode(input);
        let [batch, _, hidden] = x.dims();
        let cls = x.clone().slice([0..batch, 0..1]).reshape([batch, hidden]);
        let pooled = tanh(self.pooler.forward(cls));
        let logits = self.classifier.forward(dropout(&self.dropout, pooled));
        Forward { hidden: x, logits }
    }

    /// The final hidden states [batch, seq, hidden], without pooler and head (pretraining
    /// reads every position; a head computed and thrown away would only cost time).
    pub fn encode(&self, input: &BatchInput<B>) -> Tensor<B, 3> {
        let [batch, seq] = input.input_ids.dims();
        let device = input.input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let e = &self.embeddings;
        let x = e.word.forward(input.input_ids.clone())
            + e.position.forward(positions)
            + e.token_type.forward(input.token_type_ids.clone());
        let mut x = dropout(&e.dropout, e.norm.forward(x));
        // Additive mask [batch, 1, 1, seq]: 0 on tokens, a large negative on padding. -1e4
        // (BERT's original value) rather than -1e9: in f16, -1e9 rounds to -inf and the product
        // 0 x -inf on every real token is NaN. In f32 the padded probabilities are exactly 0
        // either way (exp underflows below -104), so results are bit-identical.
        let mask = input
            .attention_mask
            .clone()
            .bool_not()
            .float()
            .mul_scalar(-1.0e4)
            .reshape([batch, 1, 1, seq]);
        for layer in &self.layers {
            x = layer.forward(x, mask.clone());
        }
        x
    }
}

impl<B: Backend> Layer<B> {
    fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 4>) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        let split = |t: Tensor<B, 3>| {
            t.reshape([batch, seq, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split(dense(&self.query, x.clone()));
        let k = split(dense(&self.key, x.clone()));
        let v = split(dense(&self.value, x.clone()));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt())
            + mask;
        let probs = dropout(&self.attn_dropout, softmax(scores));
        let context = probs
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        let attn = self
            .attn_norm
            .forward(dropout(&self.dropout, dense(&self.attn_out, context)) + x);
        let inner = gelu(dense(&self.intermediate, attn.clone()));
        self.out_norm
            .forward(dropout(&self.dropout, dense(&self.output, inner)) + attn)
    }
}

/// A Linear layer on `[batch, seq, in]` as one `[batch x seq, in] x [in, out]` matrix product.
/// burn's `Linear` broadcasts the weight over the batch, and burn-ndarray then runs one small
/// product per batch element, packing the same weight matrix again each time.
fn dense<B: Backend>(l: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, seq, width] = x.dims();
    let y = x.reshape([batch * seq, width]).matmul(l.weight.val());
    let y = match &l.bias {
        Some(b) => y + b.val().unsqueeze(),
        None => y,
    };
    let out = y.dims()[1];
    y.reshape([batch, seq, out])
}
