// The real openai-node client against this service, for tests/batch/test_redirect_node.py.
// OPENAI_BASE_URL and OPENAI_API_KEY come from the environment, as users set them.
//   node openai_client.mjs embed <model> <inputs as JSON>   -> {"vectors": [...], "usage": {...}}
//   node openai_client.mjs content <file id> <out path>     -> {"redirected", "url", "bytes"}
import { writeFile } from 'node:fs/promises';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const [command, ...args] = process.argv.slice(2);
let result;
if (command === 'embed') {
  // no encoding_format: the SDK asks for base64 and decodes it to numbers itself
  const response = await client.embeddings.create({ model: args[0], input: JSON.parse(args[1]) });
  result = { vectors: response.data.map((d) => d.embedding), usage: response.usage };
} else if (command === 'content') {
  const response = await client.files.content(args[0]); // fetch follows the redirect
  const bytes = Buffer.from(await response.arrayBuffer());
  await writeFile(args[1], bytes);
  result = { redirected: response.redirected, url: response.url, bytes: bytes.length };
} else {
  throw new Error(`unknown command ${command}`);
}
process.stdout.write(JSON.stringify(result));
