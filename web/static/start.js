document.getElementById('open').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = document.getElementById('stream').value.trim();
  if (id) location.href = '/watch/' + encodeURIComponent(id);
});
